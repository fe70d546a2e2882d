"""The audit trail: a hash-chained, append-only log, its checkpoints, verifier and redaction."""

from __future__ import annotations

from agent.audit.chain import (
    DOMAIN,
    GENESIS_HASH,
    AppendedRow,
    AuditRow,
    RowContent,
    as_utc,
    audit_table,
    canonical_json,
    compute_hash,
    iso_utc,
    row_from_db,
    select_rows,
)
from agent.audit.checkpoint import (
    Checkpoint,
    CheckpointEntry,
    CheckpointError,
    FileCheckpoint,
)
from agent.audit.log import (
    MAX_BODY_BYTES,
    AuditLog,
)
from agent.audit.redact import (
    MIN_SECRET_LENGTH,
    REDACTED,
    RedactingFilter,
    Redactor,
    is_secret_key,
)
from agent.audit.verify import (
    VerifyProblem,
    VerifyResult,
    verify_chain,
)

__all__ = [
    "DOMAIN",
    "GENESIS_HASH",
    "MAX_BODY_BYTES",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "AppendedRow",
    "AuditLog",
    "AuditRow",
    "Checkpoint",
    "CheckpointEntry",
    "CheckpointError",
    "FileCheckpoint",
    "RedactingFilter",
    "Redactor",
    "RowContent",
    "VerifyProblem",
    "VerifyResult",
    "as_utc",
    "audit_table",
    "canonical_json",
    "compute_hash",
    "is_secret_key",
    "iso_utc",
    "row_from_db",
    "select_rows",
    "verify_chain",
]
