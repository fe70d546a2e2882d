"""How ``opshand chat`` shows the workspace: messages, cards and modals as text, buttons numbered.

A mixin of :class:`bot.chat.ChatSession`, which owns the state it reads (declared here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.text import Text

from bot.localslack import LocalSlack
from bot.localslack.blocktext import Button, mrkdwn_to_markup, render_blocks
from bot.localslack.remote import RemoteSlack

__all__ = ["ChatView", "Choice", "fingerprint"]


@dataclass(frozen=True, kw_only=True)
class Choice:
    """A numbered button the person can press: where it sits (a message or a modal)."""

    button: Button
    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None


class ChatView:
    """Rendering for the terminal: what a message, an edit, a note to you or a modal prints."""

    slack: LocalSlack | RemoteSlack
    user_id: str
    _choices: dict[int, Choice]
    _next_choice: int
    _shown: dict[tuple[str, str], list[str]]
    _view_seen: str | None
    _form: dict[str, Any] | None
    _form_values: dict[str, dict[str, Any]]

    def say(self, markup: str) -> None:
        raise NotImplementedError  # ChatSession prints and keeps the transcript

    def _name(self, ident: str) -> str:
        raise NotImplementedError  # ChatSession names users and channels

    def _buttons(self, buttons: list[Button], **where: Any) -> str:
        parts = []
        for b in buttons:
            n = self._next_choice
            self._next_choice += 1
            self._choices[n] = Choice(button=b, **where)
            colour = {"primary": "green", "danger": "red"}.get(b.style or "", "white")
            parts.append(f"[bold {colour}]\\[{n}] {escape(b.label)}[/bold {colour}]")
        return "  ".join(parts)

    def _where(self, cid: str, m: dict[str, Any]) -> str:
        name = self._name(cid)
        parent_ts = m.get("thread_ts")
        if not parent_ts or parent_ts == m["ts"]:
            return f"#{name}"
        parent = self.slack.workspace.find_message(cid, parent_ts)
        about = _plain(str((parent or {}).get("text", "")), self._name)[:48]
        return f"#{name} → thread “{escape(about)}”"

    def _show_message(self, cid: str, m: dict[str, Any], *, updated: bool, ephemeral: bool) -> None:
        # a consent card's body (and its buttons) sits in a coloured attachment
        body = [b for a in m.get("attachments") or [] for b in a.get("blocks") or []]
        rendered = render_blocks([*(m.get("blocks") or []), *body], self._name)
        if not rendered.lines:
            rendered.lines = mrkdwn_to_markup(str(m.get("text", "")), self._name).split("\n")
        lines = rendered.lines
        key = (cid, str(m["ts"]))
        if updated:
            # A terminal cannot redraw the card in place: print only what the edit added.
            before = set(self._shown.get(key, ()))
            lines = [line for line in lines if line not in before]
            if not lines and not rendered.buttons:
                return
        if not ephemeral:
            self._shown[key] = list(rendered.lines)
        author = "opshand" if m.get("bot_id") else self._name(str(m.get("user", "")))
        tags = " [dim](updated)[/dim]" if updated else ""
        tags += " [dim](only you)[/dim]" if ephemeral else ""
        self.say(f"[bold]{escape(author)}[/bold] [dim]{self._where(cid, m)}[/dim]{tags}")
        for line in lines:
            self.say("  " + line)
        if rendered.buttons and not ephemeral:
            self.say("  " + self._buttons(rendered.buttons, channel=cid, ts=str(m["ts"])))

    def _show_modal(self) -> int:
        view = self.slack.view_for(self.user_id)
        if view is None or view["id"] == self._view_seen:
            return 0
        self._view_seen = view["id"]
        rendered = render_blocks(view.get("blocks") or [], self._name)
        self.say(f"[bold reverse] {escape(view['title']['text'])} [/bold reverse]")
        for line in rendered.lines:
            self.say("  " + line)
        if rendered.buttons:
            self.say("  " + self._buttons(rendered.buttons, view_id=view["id"]))
        if rendered.inputs:
            self._form = {"view": view, "inputs": rendered.inputs, "index": 0}
            self._form_values = {}
            self.say("  [dim]Answer each field; /cancel closes the dialog.[/dim]")
        return 1

    def _form_label(self) -> str:
        assert self._form is not None
        block = self._form["inputs"][self._form["index"]]
        return str(block.get("label", {}).get("text", "value"))


def fingerprint(message: dict[str, Any]) -> str:
    # reply_count and reactions change without the message changing; leave them out.
    shown = {k: message.get(k) for k in ("text", "blocks", "attachments", "files")}
    return json.dumps(shown, sort_keys=True)


def _plain(text: str, names: Callable[[str], str]) -> str:
    return Text.from_markup(mrkdwn_to_markup(text, names)).plain.replace("\n", " ").strip()
