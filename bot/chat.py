"""``opshand chat``: the local Slack workspace in a terminal.

The terminal is one more client of ``LocalSlack``, next to the web page: what you type becomes a
signed ``app_mention`` delivered to the real Bolt app, a numbered choice becomes a real
``block_actions`` click, and the bot's answers are read back from the workspace and printed with
their Block Kit rendered as text. So the terminal takes the same path through the bot as Slack.
Beside a running ``opshand demo`` it joins that demo's workspace over the page's own endpoints
(:class:`bot.localslack.remote.RemoteSlack`): the browser and the terminal see the same threads.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bot.chat_view import ChatView, Choice, fingerprint
from bot.localslack import LocalSlack
from bot.localslack.blocktext import render_blocks
from bot.localslack.remote import RemoteSlack
from bot.localslack.ui import encode_mentions

__all__ = ["HELP", "ChatSession"]

HELP = """\
[bold]Type a message[/bold] to ask opshand (it is sent as an @opshand mention in the channel).
  [cyan]1[/cyan], [cyan]2[/cyan] …     press a numbered button, e.g. Approve
  [cyan]/as NAME[/cyan]      act as someone else: ana (on-call), ben or chloe (approvers), devika
  [cyan]/in CHANNEL[/cyan]   post in another channel (ops, ops-approvals, ops-digest, incidents)
  [cyan]/reply TEXT[/cyan]   answer in the thread of your last message
  [cyan]/home[/cyan]         open opshand's Home tab
  [cyan]/run ACTION[/cyan]   run a demo step's action, e.g. /run fire-alert
  [cyan]/wait TEXT[/cyan]    wait until TEXT shows up (for scripts)
  [cyan]/help[/cyan], [cyan]/quit[/cyan]
Other /commands are sent to the bot as Slack slash commands."""

_QUIET = 0.8
"""Seconds without news after which an answer counts as complete."""
_TIMEOUT = 30.0
"""Longest wait for the bot's first answer."""


class ChatSession(ChatView):
    """One person's terminal view of the local workspace; ``/as`` changes the person.

    Drive it with ``handle(line)`` (tests do) or ``run()`` for a prompt loop.
    """

    def __init__(
        self,
        slack: LocalSlack | RemoteSlack,
        console: Console,
        *,
        user: str = "ana",
        channel: str = "ops",
        quiet: float = _QUIET,
        timeout: float = _TIMEOUT,
    ) -> None:
        """Attach to ``slack`` (started, with the bot's URL set) and print to ``console``.

        Args:
            slack: The workspace the bot is connected to: in this process, or a running
                demo's (``RemoteSlack``).
            console: Where to print.
            user: Handle or id of the person to start as.
            channel: Channel name to post in.
            quiet: Seconds without news after which an answer counts as complete.
            timeout: Longest wait for the bot's first answer.
        """
        self.slack = slack
        self.console = console
        self.user_id = self._resolve_user(user)
        self.channel = slack.people.channel(channel).name
        self.quiet = quiet
        self.timeout = timeout
        self.transcript: list[str] = []
        """Plain text of everything printed, for scripts and tests."""
        self._seen: dict[tuple[str, str], str] = {}
        self._ephemerals_seen = 0
        self._view_seen: str | None = None
        self._choices: dict[int, Choice] = {}
        self._next_choice = 1
        self._last_thread: str | None = None
        self._lock = threading.RLock()
        self._form: dict[str, Any] | None = None
        self._form_values: dict[str, dict[str, Any]] = {}
        self._since_action = 0
        self._shown: dict[tuple[str, str], list[str]] = {}
        # Whatever is already in the workspace is history, not news.
        self._mark_all_seen()

    # -- who and where ------------------------------------------------------------------

    def _resolve_user(self, who: str) -> str:
        who = who.strip().removeprefix("@")
        if who in self.slack.workspace.users:
            return who
        return self.slack.user_id(who)

    def _name(self, ident: str) -> str:
        if ident == self.slack.bot_user_id:
            return "opshand"
        user = self.slack.workspace.users.get(ident)
        if user is not None:
            return user.name
        channel = self.slack.workspace.lookup_channel(ident)
        return channel.name if channel is not None else ident

    @property
    def prompt(self) -> str:
        """The prompt: who you are and where you post."""
        if self._form is not None:
            return f"{self._form_label()} > "
        return f"{self._name(self.user_id)} in #{self.channel} > "

    # -- printing -----------------------------------------------------------------------

    def say(self, markup: str) -> None:
        """Print console markup and remember its plain text."""
        self.console.print(markup, highlight=False)
        self.transcript.append(Text.from_markup(markup).plain)

    def text(self) -> str:
        """Everything printed so far, as plain text."""
        return "\n".join(self.transcript)

    def _sync(self) -> None:
        """Read a running demo's workspace again (in-process, it is always current)."""
        if isinstance(self.slack, RemoteSlack):
            self.slack.refresh(self.user_id)

    def _mark_all_seen(self) -> None:
        self._sync()
        ws = self.slack.workspace
        with ws.lock:
            for cid, messages in ws.messages.items():
                for m in messages:
                    self._seen[(cid, str(m["ts"]))] = fingerprint(m)
            self._ephemerals_seen = len(ws.ephemerals)

    def pump(self) -> int:
        """Print what is new since the last call (messages, edits, notes to you, a modal).

        Returns:
            How many things were printed.
        """
        with self._lock:
            return self._pump()

    def _pump(self) -> int:
        self._sync()
        ws = self.slack.workspace
        news: list[tuple[str, str, dict[str, Any], bool]] = []
        with ws.lock:
            for cid, messages in ws.messages.items():
                for m in messages:
                    key = (cid, str(m["ts"]))
                    fp = fingerprint(m)
                    old = self._seen.get(key)
                    if old != fp:
                        news.append((m["ts"], cid, json.loads(json.dumps(m)), old is not None))
                        self._seen[key] = fp
            fresh = ws.ephemerals[self._ephemerals_seen :]
            self._ephemerals_seen = len(ws.ephemerals)
            mine = [dict(e["message"], channel=e["channel"]) for e in fresh]
            mine = [e for e, f in zip(mine, fresh, strict=True) if f["user"] == self.user_id]
        count = 0
        for _, cid, m, updated in sorted(news, key=lambda n: float(n[0])):
            self._show_message(cid, m, updated=updated, ephemeral=False)
            count += 1
        for e in mine:
            self._show_message(str(e["channel"]), e, updated=False, ephemeral=True)
            count += 1
        return count + self._show_modal()

    # -- waiting ------------------------------------------------------------------------

    def settle(self, *, expect: bool = True) -> None:
        """Print news until nothing new arrives for ``quiet`` seconds.

        Args:
            expect: Wait up to ``timeout`` for at least one piece of news first.
        """
        deadline = time.monotonic() + self.timeout
        got = 0
        last = time.monotonic()
        while True:
            n = self.pump()
            now = time.monotonic()
            if n:
                got += n
                last = now
            waiting_first = expect and not got and now < deadline
            if not waiting_first and now - last >= self.quiet:
                return
            if expect and not got and now >= deadline:
                self.say("[yellow]No answer from opshand yet.[/yellow]")
                return
            time.sleep(0.05)

    def wait_for(self, needle: str, timeout: float | None = None) -> str:
        """Print news until ``needle`` shows up after the person's last action.

        Returns:
            The whole transcript.

        Raises:
            TimeoutError: naming ``needle`` when it does not show up in time.
        """
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        start = self._since_action
        while True:
            self.pump()
            if any(needle in line for line in self.transcript[start:]):
                return self.text()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{needle!r} did not show up")
            time.sleep(0.05)

    # -- input --------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Act on one line of input; ``False`` once the person asked to quit."""
        with self._lock:
            try:
                return self._handle(line.strip())
            except ValueError as exc:
                self.say(f"[red]{escape(str(exc))}[/red]")
                return True

    def _handle(self, line: str) -> bool:
        if self._form is not None:
            return self._answer_field(line)
        if not line:
            self.pump()
            return True
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if line.isdigit() or word == "/click":
            self._click(int(rest or line) if rest.isdigit() or line.isdigit() else -1)
            return True
        command: Callable[[str], bool | None] | None = {
            "/quit": lambda _: False,
            "/exit": lambda _: False,
            "/help": lambda _: self.say(HELP),
            "/as": self._switch,
            "/in": self._move,
            "/reply": self._reply,
            "/home": self._home,
            "/wait": self._wait,
            "/run": self._run_step,
        }.get(word)
        if command is not None:
            return command(rest) is not False
        if word.startswith("/"):
            self._since_action = len(self.transcript)
            status = self.slack.slash(self.user_id, self.channel, word, rest)
            if status == 404:
                self.say(f"[yellow]opshand has no {escape(word)} command.[/yellow]")
            else:
                self.settle()
            return True
        self._post(line, thread_ts=None)
        return True

    def _post(self, text: str, thread_ts: str | None) -> None:
        text = encode_mentions(text, self.slack.people)
        if f"<@{self.slack.bot_user_id}>" not in text:
            text = f"<@{self.slack.bot_user_id}> {text}"
        self._since_action = len(self.transcript)
        ts = self.slack.send_message(self.user_id, self.channel, text, thread_ts)
        # Your own words are already on your screen.
        cid = self.slack.channel_id(self.channel)
        message = self.slack.workspace.find_message(cid, ts)
        self._seen[(cid, ts)] = fingerprint(message or {})
        self._last_thread = thread_ts or ts
        self.settle()

    def _reply(self, text: str) -> None:
        if not self._last_thread:
            raise ValueError("there is no thread to reply to yet; send a message first")
        if not text:
            raise ValueError("/reply needs some text")
        self._post(text, self._last_thread)

    def _switch(self, who: str) -> None:
        if not who:
            raise ValueError("/as needs a name, e.g. /as ben")
        self.user_id = self._resolve_user(who)
        user = self.slack.workspace.users[self.user_id]
        self.say(f"You are now [bold]{escape(user.real_name)}[/bold] ({escape(user.title)}).")
        self._view_seen = None
        self.pump()

    def _move(self, channel: str) -> None:
        self.channel = self.slack.people.channel(channel.removeprefix("#")).name
        self.say(f"Posting in [bold]#{escape(self.channel)}[/bold].")

    def _home(self, _: str) -> None:
        self.slack.open_home(self.user_id)
        home = self.slack.wait_for(lambda: self.slack.home_for(self.user_id), self.timeout)
        rendered = render_blocks(home.get("blocks") or [], self._name)
        self.say("[bold reverse] opshand — Home [/bold reverse]")
        for line in rendered.lines:
            self.say("  " + line)
        if rendered.buttons:
            self.say("  " + self._buttons(rendered.buttons, view_id=home["id"]))

    def _run_step(self, name: str) -> None:
        if not name:
            raise ValueError("/run needs an action, e.g. /run fire-alert")
        self._since_action = len(self.transcript)
        self.say(escape(self.slack.run_step(name)))
        self.settle()

    def _wait(self, needle: str) -> None:
        if not needle:
            self.settle(expect=False)
            return
        try:
            self.wait_for(needle)
        except TimeoutError:
            self.say(f"[yellow]{escape(needle)!r} did not show up.[/yellow]")

    def _click(self, number: int) -> None:
        choice = self._choices.get(number)
        if choice is None:
            raise ValueError(f"there is no button {number}; the numbers are in [brackets]")
        b = choice.button
        self._since_action = len(self.transcript)
        if choice.view_id is not None:
            self.slack.click_view(self.user_id, choice.view_id, b.action_id, b.value)
        else:
            assert choice.channel is not None and choice.ts is not None
            self.slack.click(self.user_id, choice.channel, choice.ts, b.action_id, b.value)
        who = self.slack.workspace.users[self.user_id].name
        self.say(f"[dim]{escape(who)} pressed {escape(b.label)}.[/dim]")
        self.settle()

    def _answer_field(self, line: str) -> bool:
        assert self._form is not None
        view = self._form["view"]
        if line.startswith("/"):
            # Commands stay commands inside a dialog; they are never taken as an answer.
            if line.split(maxsplit=1)[0] not in ("/cancel", "/quit", "/exit"):
                self.say("[yellow]Answer the field, or /cancel the dialog first.[/yellow]")
                return True
            self._form = None
            self.slack.close_view(self.user_id, view["id"])
            self.say("[dim]Dialog closed.[/dim]")
            return line == "/cancel"
        block = self._form["inputs"][self._form["index"]]
        action_id = block["element"]["action_id"]
        self._form_values.setdefault(block["block_id"], {})[action_id] = line or None
        self._form["index"] += 1
        if self._form["index"] < len(self._form["inputs"]):
            return True
        self._form = None
        self.slack.submit_view(self.user_id, view["id"], self._form_values)
        self.settle(expect=False)
        return True

    # -- the loop -----------------------------------------------------------------------

    def run(self, lines: Iterable[str] | None = None, *, follow: bool = True) -> None:
        """Read lines until ``/quit`` or end of input.

        Args:
            lines: Lines to act on (e.g. piped standard input); ``None`` prompts on the console.
            follow: Print late news (a change finishing) while waiting for input.
        """
        self.say("[bold]opshand chat[/bold] — /help lists the commands.")
        stop = threading.Event()
        follower = threading.Thread(target=self._follow, args=(stop,), name="chat-follow")
        if follow:
            follower.start()
        try:
            source = iter(lines) if lines is not None else None
            while True:
                if source is None:
                    try:
                        line = self.console.input(escape(self.prompt))
                    except EOFError:
                        break
                else:
                    scripted = next(source, None)
                    if scripted is None:
                        break
                    line = scripted
                    self.say(f"[dim]{escape(self.prompt)}{escape(line)}[/dim]")
                if not self.handle(line):
                    break
            self.settle(expect=False)
        finally:
            stop.set()
            if follow:
                follower.join()

    def _follow(self, stop: threading.Event) -> None:
        while not stop.wait(0.3):
            self.pump()
