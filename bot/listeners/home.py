"""``app_home_opened``: publish the viewer's Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.home import home_view
from bot.listeners._shared import SlackOut

__all__ = ["register_home"]


def register_home(app: App, out: SlackOut) -> None:
    """Publish the Home tab each time someone opens it."""
    default_team = out.oh.settings.slack.team_id

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab needs nothing
        user = str(event["user"])
        team = context.team_id or default_team
        view = home_view(out.oh.ops, team, user, out.tz_of(user))
        out.client.views_publish(user_id=user, view=out.clean(view))
