"""Roles from Slack user groups, looked up through the Web API of the local workspace."""

from __future__ import annotations

from slack_sdk import WebClient

from agent.approval import RoleMap
from bot.app import slack_usergroup_members
from bot.localslack import LocalSlack


def test_approver_role_from_a_slack_user_group() -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-ug") as slack:
        client = WebClient(token="xoxb-ug", base_url=slack.api_url)
        roles = RoleMap(
            {"approvers": {"users": [], "usergroups": ["oncall"]}},
            team_id="T0LOCAL01",
            usergroup_members=slack_usergroup_members(client),
        )
        assert "approvers" in roles.roles_for("T0LOCAL01", "U0LOCAL01")  # member of @oncall
        assert "approvers" not in roles.roles_for("T0LOCAL01", "U0LOCAL04")
        assert roles.roles_for("T0LOCAL01", "U0LOCAL01") == roles.roles_for(
            "T0LOCAL01", "U0LOCAL01"
        )


def test_unknown_group_grants_nothing() -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-ug") as slack:
        client = WebClient(token="xoxb-ug", base_url=slack.api_url)
        roles = RoleMap(
            {"approvers": {"users": [], "usergroups": ["nope"]}},
            team_id="T0LOCAL01",
            usergroup_members=slack_usergroup_members(client),
        )
        assert roles.roles_for("T0LOCAL01", "U0LOCAL01") == frozenset()
