"""Alembic revisions, oldest first (each file a frozen picture of one schema change)."""
