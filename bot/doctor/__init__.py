"""``opshand doctor``: read-only checks of a deployment, each ending in a finding with its fix.

The settings, the database and its migrations, the policy, runbooks, integrations, topology
sources and signal sources (:mod:`bot.doctor.checks`), Slack (:mod:`bot.doctor.slack`) and the
model (:mod:`bot.doctor.model`, imported only when the checks run: it loads the model stack).
"""

from __future__ import annotations

from bot.doctor.checks import check_settings, run_doctor
from bot.doctor.finding import Finding, Status
from bot.doctor.slack import REQUIRED_SCOPES

__all__ = [
    "REQUIRED_SCOPES",
    "Finding",
    "Status",
    "check_settings",
    "run_doctor",
]
