"""Alembic environment and revisions of the opshand schema (run through :func:`twin.db.migrate`)."""

__all__: list[str] = []
