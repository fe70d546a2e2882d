"""``opshand doctor``'s Slack checks: the tokens' shapes, ``auth.test``, the team and the scopes.

The only check here that leaves the machine is ``auth.test`` (read-only, free); a refusal or an
unreachable Slack is a finding with the fix, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.doctor.finding import Finding
from bot.settings import Settings

__all__ = ["REQUIRED_SCOPES", "default_client", "slack_findings"]

REQUIRED_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "chat:write",
    "commands",
    "im:history",
    "users:read",
    "usergroups:read",
)
"""Bot token scopes the listeners need (mentions, DMs, consent cards, roles by user group)."""

_LOCAL_SECRETS = ("xoxb-local-workspace", "local-signing-secret")


def slack_findings(s: Settings, client_factory: Callable[[Settings], WebClient]) -> list[Finding]:
    """The Slack checks, in the order an operator fixes them (tokens first, then scopes)."""
    sl = s.slack
    out: list[Finding] = []
    if sl.mode == "local":
        return [
            Finding(
                check="slack",
                status="warn",
                detail="slack.mode is 'local' (the bundled workspace)",
                fix="Set OPSHAND_SLACK__MODE=socket or http and the app's tokens to reach Slack.",
            )
        ]
    token = sl.bot_token.get_secret_value()
    if token in _LOCAL_SECRETS or not token.startswith("xoxb-"):
        out.append(
            Finding(
                check="slack token",
                status="fail",
                detail="slack.bot_token is not a bot token (xoxb-...)",
                fix="Copy the Bot User OAuth Token from the app's OAuth & Permissions page "
                "into OPSHAND_SLACK__BOT_TOKEN.",
            )
        )
    if sl.mode == "socket":
        app_token = sl.app_token.get_secret_value() if sl.app_token else ""
        if not app_token.startswith("xapp-"):
            out.append(
                Finding(
                    check="slack app token",
                    status="fail",
                    detail="Socket Mode needs an app-level token (xapp-...)",
                    fix="Create one with the connections:write scope under Basic Information "
                    "> App-Level Tokens and set OPSHAND_SLACK__APP_TOKEN.",
                )
            )
    if sl.mode == "http" and sl.signing_secret.get_secret_value() in _LOCAL_SECRETS:
        out.append(
            Finding(
                check="slack signing secret",
                status="fail",
                detail="slack.signing_secret is still the local default",
                fix="Copy the Signing Secret from Basic Information into "
                "OPSHAND_SLACK__SIGNING_SECRET.",
            )
        )
    try:
        resp = client_factory(s).auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown"))
        return [
            *out,
            Finding(
                check="slack auth",
                status="fail",
                detail=f"auth.test refused the bot token: {error}",
                fix="The token was revoked or belongs to another app: reinstall the app and "
                "copy its current Bot User OAuth Token.",
            ),
        ]
    except Exception as exc:
        return [
            *out,
            Finding(
                check="slack auth",
                status="fail",
                detail=f"Slack unreachable at {sl.api_url or 'https://slack.com/api/'}: "
                f"{type(exc).__name__}",
                fix="Check outbound HTTPS from this host (proxy, firewall) and slack.api_url.",
            ),
        ]
    team = str(resp.get("team_id", ""))
    out.append(
        Finding(check="slack auth", status="ok", detail=f"bot {resp.get('user_id')} in {team}")
    )
    if team and team != sl.team_id:
        out.append(
            Finding(
                check="slack team",
                status="fail",
                detail=f"the token is for workspace {team}, settings say {sl.team_id}",
                fix=f"Set OPSHAND_SLACK__TEAM_ID={team} (identities are team id + user id).",
            )
        )
    headers = {k.lower(): v for k, v in (resp.headers or {}).items()}
    raw = headers.get("x-oauth-scopes")
    if raw is None:
        out.append(
            Finding(
                check="slack scopes",
                status="warn",
                detail="Slack did not report the token's scopes",
                fix="Check by hand that the app has: " + ", ".join(REQUIRED_SCOPES) + ".",
            )
        )
    else:
        value = raw[0] if isinstance(raw, list) else raw
        granted = {x.strip() for x in str(value).split(",") if x.strip()}
        missing = [x for x in REQUIRED_SCOPES if x not in granted]
        out.append(
            Finding(
                check="slack scopes",
                status="fail" if missing else "ok",
                detail=f"missing {', '.join(missing)}" if missing else "all needed scopes granted",
                fix="Add them under OAuth & Permissions > Bot Token Scopes and reinstall the app."
                if missing
                else "",
            )
        )
    return out


def default_client(s: Settings) -> WebClient:
    """A Slack Web API client for the settings' bot token and API URL."""
    return WebClient(
        token=s.slack.bot_token.get_secret_value(),
        base_url=s.slack.api_url or WebClient.BASE_URL,
        timeout=10,
    )
