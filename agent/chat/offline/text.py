"""Turning a raw chat message into the plain clauses the grammar reads.

Steps, in order: Slack markup out (``<@U123>``, ``<url|label>``, HTML entities), Unicode folded
(NFKC, zero-width characters dropped, so look-alike tricks do not hide words), quoted material set
aside (code blocks, ``>`` quotes, double-quoted text: it is *data* the person pasted, never an
instruction), greetings and polite padding dropped, small typos in the verbs we know (and swapped
letters in a few function words: "teh") corrected, and the message split into clauses so that two
requests in one message can be told apart. Names and numbers are never corrected here.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA

from agent.chat.intent import verb_of

__all__ = ["QUOTE_TOKEN", "Prepared", "fix_typos", "inflection_of", "prepare", "strip_politeness"]

QUOTE_TOKEN = re.compile(r"§q(\d+)§")
"""Where a quoted block stood; ``Prepared.quoted[n]`` holds its text."""

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
_SLACK_USER = re.compile(r"<[@!#][^>]*>")
_SLACK_LINK = re.compile(r"<([^>|]+)\|([^>]*)>|<((?:https?|mailto|tel):[^>]*)>")
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_DOUBLE_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")

# Verbs (and the words around them) the grammar relies on; typos are corrected only towards these.
_VOCABULARY = frozenset(
    [
        "reboot",
        "reboots",
        "rebooted",
        "rebooting",
        "restart",
        "restarts",
        "restarted",
        "restarting",
        "bounce",
        "patch",
        "patches",
        "patched",
        "patching",
        "update",
        "updates",
        "rotate",
        "rotated",
        "rotating",
        "disable",
        "disabled",
        "disabling",
        "revoke",
        "revoked",
        "revoking",
        "sessions",
        "session",
        "restore",
        "restored",
        "restoring",
        "backup",
        "backups",
        "block",
        "blocked",
        "blocking",
        "throttle",
        "throttled",
        "throttling",
        "escalate",
        "escalated",
        "escalating",
        "close",
        "closed",
        "closing",
        "comment",
        "comments",
        "depends",
        "depend",
        "dependencies",
        "dependency",
        "blast",
        "radius",
        "impact",
        "status",
        "approval",
        "approvals",
        "approve",
        "waiting",
        "pending",
        "denied",
        "rejected",
        "stale",
        "credential",
        "password",
        "secret",
        "firewall",
        "ticket",
        "tickets",
        "service",
        "services",
        "server",
        "servers",
        "missing",
        "please",
        "tonight",
        "maintenance",
        "window",
        "yesterday",
        "today",
        "activity",
        "latest",
        "rollback",
        "affected",
        "break",
        "breaks",
        "happen",
        "happens",
    ]
)
# Everyday words one edit away from a verb above: never "correct" these.
_PROTECTED = frozenset(
    [
        "match",
        "watch",
        "batch",
        "catch",
        "latch",
        "hatch",
        "clone",
        "closer",
        "closet",
        "locked",
        "lock",
        "blocks",
        "clocks",
        "reboots",
        "servers",
        "serves",
        "server's",
        "stale",
        "state",
        "states",
        "stall",
        "status",
        "statue",
        "depend",
        "spend",
        "remote",
        "relate",
        "rotten",
        "revise",
        "revive",
        "invoke",
        "evoke",
        "impart",
        "import",
        "patchy",
        "patio",
        "escape",
        "update",
        "updated",
        "comet",
        "common",
        "command",
        "backed",
        "backer",
        "pending",
        "sending",
        "spending",
        "tending",
        "clock",
        "chose",
        "pitch",
        "scale",
        "stable",
        "style",
        "windows",
        "closes",
    ]
)

# Function words the grammar leans on ("rotate the X", "block IP on X for 2h"). Only a swap of two
# neighbouring letters is corrected ("teh", "wiht"), and only towards one of these: other edits of a
# short word too often make another real word (or a username) out of it.
_FUNCTION_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "from",
        "with",
        "without",
        "this",
        "that",
        "these",
        "those",
        "them",
        "then",
        "all",
        "every",
        "into",
        "onto",
        "what",
        "which",
        "when",
        "after",
        "before",
        "until",
        "about",
        "our",
        "their",
    ]
)
# Real words (or common names) a letter swap away from a function word: never "correct" these.
_REAL_SWAPS = frozenset(["form", "nay", "tis", "hwy", "dan", "whit", "thee"])


def _swaps(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


def _swap_table() -> dict[str, str]:
    """Typo -> function word, for typos only one function word could come from."""
    table: dict[str, set[str]] = {}
    for word in _FUNCTION_WORDS:
        for typo in _swaps(word) - _FUNCTION_WORDS - _REAL_SWAPS:
            table.setdefault(typo, set()).add(word)
    # A typo two function words could come from ("hwo": who or how) is left alone.
    return {typo: next(iter(words)) for typo, words in table.items() if len(words) == 1}


_SWAPPED = _swap_table()

_GREETING = re.compile(
    r"^\s*(?:(?:hey|hi|hello|yo|morning|good morning|dear)\b[\s,!:.-]*"
    r"(?:opshand|bot|there|team|all|folks)?\b[\s,!:.-]*"
    r"|opshand\b[\s,!:.-]*|(?:ok|okay|so|um|alright)\b[\s,]+)",
    re.I,
)
_POLITE_PREFIX = re.compile(
    r"^\s*(?:could|can|would|will)\s+(?:you|u|we)\s+(?:please\s+|pls\s+|kindly\s+)?"
    r"|^\s*(?:please|pls|plz|kindly)\s+"
    r"|^\s*(?:i(?:'d| would)? (?:like|want|need) (?:you )?to|i need you to|we need to|need to)\s+"
    r"|^\s*(?:go ahead and|let'?s|lets|just|quickly|now)\s+"
    r"|^\s*(?:be so kind as to|do me a favou?r and)\s+"
    r"|^\s*(?:(?:tell|show|let)\s+me(?:\s+know)?|i(?:'d| would) like to know|do you know|"
    r"i wonder|any idea|quick question:?)\s+(?=(?:what|which|who|why|how|whether|if)\b)",
    re.I,
)
_MIND = re.compile(r"^\s*(?:would|do) you mind\s+(\w+?)ing\b", re.I)
_POLITE_ANYWHERE = re.compile(
    r"\b(?:please|pls|plz|kindly)\b|,?\s*\b(?:thanks|thank you|thx|ty|cheers)\b[!.]*|\bfor me\b",
    re.I,
)
_GERUND_STEMS = {
    "reboot": "reboot",
    "patch": "patch",
    "restart": "restart",
    "rotat": "rotate",
    "disabl": "disable",
    "revok": "revoke",
    "restor": "restore",
    "block": "block",
    "throttl": "throttle",
    "escalat": "escalate",
    "clos": "close",
    "show": "show",
}

# Verbs that start a new request when they follow "and", "then", "also" or a comma.
_CLAUSE_VERBS = (
    r"reboot|restart|bounce|patch|update|install|apply|rotate|disable|deactivate|suspend|lock|"
    r"revoke|kill|terminate|sign|log|restore|block|ban|throttle|mute|silence|snooze|suppress|"
    r"escalate|close|resolve|comment|add|run|execute|delete|remove|wipe|shut|shutdown|"
    r"show|tell|what|which|why|list|find|ignore|forget|disregard"
)
_CLAUSE_SPLIT = re.compile(
    rf"(?:[.;!?]+(?=\s|$)|\n)\s*|\s*(?:,\s*|\s+)(?:and\s+then|and|then|also|plus)\s+(?=(?:{_CLAUSE_VERBS})\b)"
    rf"|,\s*(?=(?:{_CLAUSE_VERBS})\b)",
    re.I,
)
# "patch X and reboot (them)" is one request: a patch that ends with a reboot.
_PATCH_THEN_REBOOT = re.compile(
    r"\s*(?:,|\band\b|\bthen\b)\s*(?:then\s+)?(?:reboot|restart)"
    r"(?:\s+(?:it|them|the hosts?|the servers?|afterwards|after(?:wards)?|too|as well))*\b",
    re.I,
)


@dataclass(frozen=True)
class Prepared:
    """A message made ready for the grammar."""

    text: str
    """The whole message after clean-up, quotes replaced by ``§qN§`` tokens."""
    plain: str = ""
    """Like ``text`` but without typo fixes: payload text (a ticket comment) as it was typed."""
    clauses: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)


def _strip_markup(text: str) -> str:
    text = _SLACK_USER.sub(" ", text)
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(3) or m.group(1), text)
    text = html.unescape(text)
    # "§" marks where quotes stood: a person typing it must not point at someone else's quote.
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).replace("§", " ")
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _set_quotes_aside(text: str) -> tuple[str, list[str]]:
    quoted: list[str] = []

    def keep(match: re.Match[str]) -> str:
        quoted.append(match.group().strip('`"“”«» \n'))
        return f" §q{len(quoted) - 1}§ "

    text = _CODE_BLOCK.sub(keep, text)
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith(">"):
            quoted.append(line.lstrip()[1:].strip())
            lines.append(f" §q{len(quoted) - 1}§ ")
        else:
            lines.append(line)
    text = "\n".join(lines)
    text = _DOUBLE_QUOTED.sub(keep, text)
    # Single backticks mark names (`contoso-ny-web-01`), not pasted data: unwrap them.
    return text.replace("`", ""), quoted


def strip_politeness(clause: str, *, anywhere: bool = True) -> str:
    """Drop greetings, "could you please", "thanks" and similar padding around a request.

    With ``anywhere=False`` only the opening is cleaned (for text that is itself a payload).
    """
    if anywhere:
        clause = _POLITE_ANYWHERE.sub(" ", clause)
    previous = None
    while previous != clause:
        previous = clause
        clause = _GREETING.sub("", clause, count=1)
        mind = _MIND.match(clause)
        if mind:
            stem = mind.group(1).lower()
            clause = _GERUND_STEMS.get(stem, stem) + clause[mind.end() :]
        clause = _POLITE_PREFIX.sub("", clause, count=1)
    return re.sub(r"\s+", " ", clause).strip(" ,.!?;:-")


def inflection_of(word: str, verb: str) -> bool:
    """Whether ``word`` is ``verb`` inflected ("resolved", "closes"), not a typo of it."""
    stem = verb[:-1] if verb.endswith("e") else verb
    return word in {verb + "s", verb + "es", verb + "d", verb + "ed", stem + "ing", stem + "ed"}


def fix_typos(text: str, *, is_name: Callable[[str], bool] | None = None) -> str:
    """Correct a word one edit (two for long words) away from exactly one verb we know, and a
    function word with two neighbouring letters swapped ("teh" -> "the").

    Args:
        text: The message.
        is_name: Says whether a word names something in the estate; such a word is never
            corrected towards a function word (a user called "taht" stays "taht").
    """

    def fix(match: re.Match[str]) -> str:
        word = match.group()
        lower = word.lower()
        swapped = _SWAPPED.get(lower)
        if swapped is not None:
            if is_name is not None and is_name(word):
                return word
            return swapped.capitalize() if word[:1].isupper() else swapped
        if len(lower) < 5 or lower in _VOCABULARY or lower in _PROTECTED:
            return word
        # A change verb's typo is read by the one intent reader the guard uses, so the parser
        # proposes exactly when the guard will accept: "restrat" -> restart in both.
        verb = verb_of(lower)
        if verb is not None and not inflection_of(lower, verb):
            return verb
        limit = 2 if len(lower) >= 8 else 1
        best = sorted(
            (OSA.distance(lower, known), known)
            for known in _VOCABULARY
            if abs(len(known) - len(lower)) <= limit
        )
        if best and best[0][0] <= limit and (len(best) == 1 or best[1][0] > best[0][0]):
            # Never towards a change verb the intent reader would not read from this word.
            return word if verb_of(best[0][1]) == best[0][1] else best[0][1]
        return word

    # Only free-standing words: never touch a piece of a name such as "web-01" or "db_prod".
    return re.sub(r"(?<![\w\-.§])[A-Za-z]+(?![\w\-§])", fix, text)


def prepare(raw: str, *, is_name: Callable[[str], bool] | None = None) -> Prepared:
    """Clean a raw message and split it into clauses (see the module docstring).

    Args:
        raw: The message as Slack delivered it.
        is_name: Whether a word names an entity (see :func:`fix_typos`).
    """
    text = _strip_markup(raw)
    text, quoted = _set_quotes_aside(text)
    plain = re.sub(r"[ \t]+", " ", text).strip()
    text = fix_typos(text, is_name=is_name)
    if re.search(r"\bpatch", text, re.I):
        text = _PATCH_THEN_REBOOT.sub(" with reboot", text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    clauses = [strip_politeness(part) for part in _CLAUSE_SPLIT.split(text) if part]
    return Prepared(text=text, plain=plain, clauses=[c for c in clauses if c], quoted=quoted)
