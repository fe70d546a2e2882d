"""Running decided changes: the journal, the executor, integration calls, reconciliation."""

from __future__ import annotations

from agent.execution.calls import (
    CallOutcome,
    HoldPolicy,
    IntegrationGuard,
    category_of,
    job_verdict,
    jobs_ended,
)
from agent.execution.capabilities import (
    Adapters,
    invoke,
)
from agent.execution.change import (
    FINAL_STATES,
    TRANSITIONS,
    Change,
    ChangeState,
    IllegalTransition,
    LeaseLost,
    change_ref,
    parse_ref,
)
from agent.execution.checks import (
    CheckName,
    Checks,
    Recheck,
    Refusal,
)
from agent.execution.executor import (
    STEPS,
    Executor,
)
from agent.execution.journal import (
    AuditFn,
    DuplicateRequest,
    Journal,
    idempotency_key,
    journal_table,
)
from agent.execution.leases import (
    LEASE,
    Leases,
)
from agent.execution.observe import (
    Observation,
    observe,
)
from agent.execution.reconcile import (
    Reconciler,
    undo,
)
from agent.execution.recovery import (
    INTERRUPTED,
    UNDECIDED_AFTER,
    close_undecided,
)
from agent.execution.report import (
    ExecutionReport,
    TargetResult,
)
from agent.execution.source_ids import (
    CapabilityError,
)
from agent.execution.targets import (
    TargetBook,
    call_table,
    target_table,
)
from agent.execution.worker import (
    Worker,
    WorkerStats,
)

__all__ = [
    "FINAL_STATES",
    "INTERRUPTED",
    "LEASE",
    "STEPS",
    "TRANSITIONS",
    "UNDECIDED_AFTER",
    "Adapters",
    "AuditFn",
    "CallOutcome",
    "CapabilityError",
    "Change",
    "ChangeState",
    "CheckName",
    "Checks",
    "DuplicateRequest",
    "ExecutionReport",
    "Executor",
    "HoldPolicy",
    "IllegalTransition",
    "IntegrationGuard",
    "Journal",
    "LeaseLost",
    "Leases",
    "Observation",
    "Recheck",
    "Reconciler",
    "Refusal",
    "TargetBook",
    "TargetResult",
    "Worker",
    "WorkerStats",
    "call_table",
    "category_of",
    "change_ref",
    "close_undecided",
    "idempotency_key",
    "invoke",
    "job_verdict",
    "jobs_ended",
    "journal_table",
    "observe",
    "parse_ref",
    "target_table",
    "undo",
]
