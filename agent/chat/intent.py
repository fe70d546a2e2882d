"""One intent reader: does the person's own message *ask* for a kind of change?

The guard (:mod:`agent.chat.guard`) and the offline model (:mod:`agent.chat.offline`) both use
:func:`read_intent`, so what the parser proposes and what the guard lets through cannot drift apart.

A change is authorised only by an imperative ("reboot X", "restrat X") or a polite request
("could you bounce X?", "please patch X tonight", "would you mind rebooting X"), the request's
verb at the head of its clause. Everything else authorises nothing: a question ("what breaks if X
reboots?"), a conditional ("if X hangs, reboot it"), a negation ("don't reboot X") and quoted or
pasted text (code blocks, ``>`` quotes, double quotes, "the ticket says: reboot X").
Text is read after Slack markup is removed and Unicode is folded (NFKC, zero-width characters out,
look-alike letters folded), so a hidden or disguised verb reads the same as a plain one.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import OSA

__all__ = [
    "ACTION_VERBS",
    "Cleaned",
    "IntentClause",
    "IntentReading",
    "Mood",
    "clean",
    "fold",
    "is_follow_up",
    "read_intent",
    "verb_of",
    "verbs_for",
]

Mood = Literal["imperative", "polite", "question", "conditional", "negation", "quoted", "statement"]
"""How a clause is meant; only ``imperative`` and ``polite`` ask for anything."""

ACTION_VERBS: dict[str, tuple[str, ...]] = {
    "host.reboot": ("reboot", "restart", "bounce", "power-cycle", "cycle", "recycle"),
    "service.restart": ("restart", "reboot", "bounce", "recycle", "kick", "cycle"),
    "patch.apply": ("patch", "update", "install", "apply", "deploy", "push", "roll-out"),
    "patch.uninstall": ("uninstall", "remove", "roll-back", "rollback", "revert"),
    "identity.disable": ("disable", "lock", "deactivate", "suspend", "block", "offboard"),
    "identity.enable": ("enable", "unlock", "reactivate", "re-enable"),
    "identity.revoke_sessions": ("revoke", "sign-out", "log-out", "logout", "kill", "terminate"),
    "ticket.comment": ("comment", "note", "reply", "add", "post", "write"),
    "credential.rotate": ("rotate", "roll", "change", "reset", "cycle", "renew", "regenerate"),
    "backup.restore": ("restore", "recover", "roll-back", "rollback"),
    "firewall.rule.add": ("block", "ban", "deny", "allow", "open", "add"),
    "firewall.rule.remove": ("remove", "delete", "unblock", "drop"),
    "siem.rule.throttle": ("throttle", "mute", "silence", "suppress", "snooze", "quiet", "pause"),
    "ticket.escalate": ("escalate", "bump", "raise"),
    "ticket.close": ("close", "resolve"),
    "script.run": ("run", "execute", "launch"),
}
"""Each action kind and the verbs that ask for it (``-`` joins a two-word verb)."""

_CHANGE_VERBS = frozenset(v for verbs in ACTION_VERBS.values() for v in verbs)
# Everyday words one edit away from a change verb: never read as a typo of one.
_NOT_TYPOS = frozenset(
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
        "clock",
        "locks",
        "lose",
        "chose",
        "rock",
        "remote",
        "relate",
        "revise",
        "revive",
        "invoke",
        "evoke",
        "rotten",
        "patio",
        "patchy",
        "pitch",
        "store",
        "stone",
        "reset's",
        "resort",
        "rebook",
        "reboots",
        "restate",
        "restore's",
        "rerun",
        "return",
        "ruin",
        "rain",
        "runs",
        "reply's",
        "apple",
        "apply's",
        "opens",
        "oven",
        "pen",
        "pan",
        "push's",
        "ship",
        "post's",
        "most",
        "host",
        "lost",
        "cost",
        "noted",
        "notes",
        "vote",
        "note's",
        "node",
        "nodes",
        "mode",
        "code",
        "able",
        "cable",
        "table",
        "unable",
        "enabled's",
        "poll",
        "roll's",
        "role",
        "rolls",
        "rule",
        "rules",
        "mate",
        "mute's",
        "cute",
        "mutes",
        "bump's",
        "pump",
        "jump",
        "raise's",
        "raised",
        "rise",
        "lunch",
        "launch's",
        "unlock's",
        "block's",
        "blocks",
        "clocks",
        "flock",
    ]
)

# Format and invisible characters that split a word without showing (zero-width, bidi, joiners).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]"
)
# Cyrillic and Greek letters that look like Latin ones (the usual homograph set).
_LOOKALIKES = str.maketrans(
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445\u0456\u0457\u0458\u0455\u0501\u04bb"
    "\u04cf\u051b\u051d\u0578\u057d\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u0261\u0251\u0131",
    "abeekmhopctyxiijsdhlqwnuabenikvoptuxgai",
)


def fold(text: str) -> str:
    """Fold compatibility forms (NFKC), strip invisible characters, casefold, fold look-alikes."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return folded.translate(_LOOKALIKES)


_SLACK_USER = re.compile(r"<[@!#][^>]*>")
_SLACK_LINK = re.compile(r"<([^>|]+)\|([^>]*)>|<((?:https?|mailto|tel):[^>]*)>")
_CODE = re.compile(r"```.*?(?:```|$)", re.S)
_DOUBLE = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")
# "the ticket says: reboot X" - what follows is somebody else's words, pasted.
_REPORTED = re.compile(
    r"\b(?:says?|said|wrote|writes|reads|asks?|asked|claims?|tells? (?:me|us)|told (?:me|us)|"
    r"quote|quoting|pasted?|log(?:ged)?|output)\b\s*:|:\s*$",
)


@dataclass(frozen=True)
class Cleaned:
    """A message with markup out, folded, and quoted material set aside."""

    text: str
    """The person's own words (quotes replaced by ``[quoted]``), folded."""
    quoted: tuple[str, ...]
    """What they quoted or pasted: data, never a request."""


def clean(raw: str) -> Cleaned:
    """Strip Slack markup, fold the text (see :func:`fold`) and set quoted material aside."""
    text = _SLACK_USER.sub(" ", raw)
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(3) or m.group(1), text)
    text = fold(html.unescape(text)).replace("\u2019", "'").replace("\u2018", "'")
    quoted: list[str] = []

    def aside(match: re.Match[str]) -> str:
        quoted.append(match.group().strip("`\"'“”«» \n"))
        return " [quoted] "

    text = _CODE.sub(aside, text)
    lines = []
    for line in text.split("\n"):
        kept = line
        if line.lstrip().startswith(">"):
            quoted.append(line.lstrip()[1:].strip())
            kept = " [quoted] "
        elif (said := _REPORTED.search(line)) and said.end() < len(line):
            quoted.append(line[said.end() :].strip())
            kept = line[: said.end()] + " [quoted]"
        lines.append(kept)
    text = _DOUBLE.sub(aside, "\n".join(lines))
    return Cleaned(text=re.sub(r"[ \t]+", " ", text).strip(), quoted=tuple(quoted))


def verb_of(word: str) -> str | None:
    """The change verb ``word`` is, allowing one typo (two in long words): "restrat" -> restart.

    A typo is read only when exactly one verb is that close, and never for an everyday word one
    edit away from a verb ("clone", "lock" is a verb itself).
    """
    w = word.casefold().strip(".,;:!?")
    if w in _CHANGE_VERBS:
        return w
    if len(w) < 5 or w in _NOT_TYPOS or not w.isalpha():
        return None
    limit = 2 if len(w) >= 8 else 1
    best = sorted(
        (OSA.distance(w, v), v)
        for v in _CHANGE_VERBS
        if "-" not in v and abs(len(v) - len(w)) <= limit
    )
    if best and best[0][0] <= limit and (len(best) == 1 or best[1][0] > best[0][0]):
        return best[0][1]
    return None


def _gerund(word: str) -> str | None:
    """``rebooting`` -> reboot, ``disabling`` -> disable (after "would you mind")."""
    w = word.casefold()
    if not w.endswith("ing"):
        return None
    stem = w[:-3]
    for guess in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else ""):
        if guess in _CHANGE_VERBS:
            return guess
    return None


def verbs_for(action: str) -> tuple[str, ...]:
    """The verbs that ask for ``action`` (an unknown kind: the last word of its name)."""
    return ACTION_VERBS.get(action, (action.rsplit(".", 1)[-1].split("_", 1)[0].casefold(),))


@dataclass(frozen=True)
class IntentClause:
    """One clause of a message, how it is meant, and the change verb at its head."""

    text: str
    mood: Mood
    verb: str | None = None

    @property
    def asks(self) -> bool:
        """Whether this clause asks for a change (a request with a change verb at its head)."""
        return self.mood in ("imperative", "polite") and self.verb is not None


@dataclass(frozen=True)
class IntentReading:
    """What one message asks for."""

    clauses: tuple[IntentClause, ...]
    quoted: tuple[str, ...]
    follow_up: bool = False
    """The message only adds a subject to the thread's last request ("and web-04 too?")."""
    assent: bool = False
    """The message only says yes ("yes, go ahead"): it may carry over the bot's last proposal
    in the thread, exactly as the person saw it, and nothing else."""

    @property
    def mood(self) -> Mood:
        """The message's mood: the first asking clause's, else the first clause's."""
        asking = [c for c in self.clauses if c.asks]
        if asking:
            return asking[0].mood
        first = self.clauses[0].mood if self.clauses else "statement"
        if first == "statement" and self.quoted:
            return "quoted"  # "the ticket says: reboot X" - the only request in it is pasted
        return first

    @property
    def verbs(self) -> frozenset[str]:
        """The change verbs the person asked for."""
        return frozenset(c.verb for c in self.clauses if c.asks and c.verb)

    def authorises(self, action: str) -> bool:
        """Whether the message asks for this kind of action."""
        return bool(self.verbs & set(verbs_for(action)))


# Greetings, mentions and padding before the request itself.
_OPENING = re.compile(
    r"^(?:(?:@[\w.-]+|hey|hi|hello|yo|morning|good morning|dear|ok|okay|so|um|alright|right|"
    r"opshand|bot|team|folks|all|there)\b[\s,!:.-]*)+"
)
_POLITE = re.compile(
    r"^(?:(?:could|can|would|will)\s+(?:you|u|we)\s+(?:please\s+|pls\s+|kindly\s+|just\s+|go\s+"
    r"ahead\s+and\s+)?|(?:please|pls|plz|kindly)\s+(?:just\s+|go\s+ahead\s+and\s+)?|"
    r"i(?:'d| would)?\s+(?:like|want|need)\s+you\s+to\s+|i\s+need\s+you\s+to\s+|"
    r"(?:go\s+ahead\s+and|let'?s|be\s+so\s+kind\s+as\s+to|do\s+me\s+a\s+favou?r\s+and)\s+|"
    r"(?:i'd|i would) (?:like|want) to\s+|we\s+need\s+to\s+|need\s+to\s+|i\s+want\s+to\s+)"
)
_MIND = re.compile(r"^(?:would|do)\s+you\s+mind\s+(?:please\s+)?(\w+)")
_SOFTENERS = re.compile(r"^(?:just|now|quickly|also|then|and|asap|right away)\s+")
_THANKS = re.compile(r"(?:\bplease\b|\bpls\b|\bthanks\b|\bthank you\b|\bthx\b|\bcheers\b)[\s!.]*$")
_QUESTION_WORD = re.compile(
    r"^(?:what|what's|whats|why|how|when|where|which|who|whose|whom|is|are|was|were|am|do|does|"
    r"did|has|have|had|should|shall|may|might|must|isn't|aren't|doesn't|didn't|hasn't|"
    r"any idea|i wonder|wonder|tell me|show me|can|could|would|will|any)\b"
)
_CONDITION = re.compile(
    r"(?:^|\b)(?:if|unless|in case|whenever|when|once|as soon as|provided|assuming|suppose|"
    r"supposing|otherwise|should it|should the)\b"
)
_NEGATION = re.compile(
    r"^(?:please\s+|pls\s+|just\s+|and\s+)?(?:don't|dont|do not|never|no need to|not|"
    r"stop|avoid|let's not|lets not|we shouldn't|you shouldn't|shouldn't|mustn't|"
    r"i don't want|i do not want|we don't want|nobody|no one|no)\b|\b(?:don't|do not|never|not)\s+"
)
_ASSENT = re.compile(
    r"^(?:(?:yes|yeah|yep|yup|sure|ok|okay|alright|please do|do it|go ahead|go for it|proceed|"
    r"sounds good|lgtm|please|thanks|thank you|that's right|correct|confirmed?)[\s,.!]*)+$"
)
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_VERB_ALT = "|".join(sorted((re.escape(v.replace("-", " ")) for v in _CHANGE_VERBS), key=len)[::-1])
_CLAUSES = re.compile(
    rf"\s*(?:,\s*)?\b(?:and\s+then|and|then|also|plus)\s+(?=(?:{_VERB_ALT})\b)|,\s*(?=(?:{_VERB_ALT})\b)"
)
_FOLLOW_UP = re.compile(
    r"^(?:and\s+(?:also\s+)?(?:what\s+about\s+|how\s+about\s+)?(?:for\s+|on\s+|with\s+)?|"
    r"also\s+(?:for\s+|on\s+)?|what\s+about\s+|how\s+about\s+|same(?:\s+thing)?\s+(?:for|with|on)\s+|"
    r"(?:do\s+)?the\s+same\s+(?:for|with|on|to)\s+)(?P<e>.+?)(?:\s+(?:too|as\s+well|also))?$"
    r"|^(?P<e2>\S+(?:\s*(?:,|and)\s*\S+)*)\s+(?:too|as\s+well)$",
    re.I,
)
"""A follow-up that only names a new subject for the previous request."""


def is_follow_up(clause: str) -> str | None:
    """The new subject of a follow-up clause ("web-04" in "and web-04 too?"), or ``None``."""
    match = _FOLLOW_UP.match(clause.strip().rstrip("?!. "))
    if match is None:
        return None
    return match.group("e") or match.group("e2") or None


def _head(words: list[str]) -> str | None:
    """The change verb at the head of a clause ("power cycle", "log X out" included)."""
    if not words:
        return None
    first = words[0]
    two = f"{first}-{words[1]}" if len(words) > 1 else ""
    if two in _CHANGE_VERBS:
        return two
    if first in ("sign", "log") and "out" in words[1:4]:
        return f"{first}-out"
    if first == "roll" and len(words) > 1 and words[1] in ("back", "out"):
        return f"roll-{words[1]}"
    return verb_of(first)


def _clause(text: str, sentence_mood: Mood | None) -> IntentClause:
    body = _SOFTENERS.sub("", _THANKS.sub("", text.strip(" ,.!?;:-")).strip(" ,"))
    if not body or body == "[quoted]":
        return IntentClause(text, "quoted" if body else "statement")
    if sentence_mood is not None:
        return IntentClause(text, sentence_mood)
    rest, polite = body, False
    while True:  # "pls could you please reboot X", "could you please would you mind ..."
        if (mind := _MIND.match(rest)) is not None:
            return IntentClause(text, "polite", _gerund(mind.group(1)))
        if (wrap := _POLITE.match(rest)) is None:
            break
        rest, polite = _SOFTENERS.sub("", rest[wrap.end() :]), True
    if polite:
        if _NEGATION.match(rest):
            return IntentClause(text, "negation")
        verb = _head(re.findall(r"[\w'-]+", rest))
        if verb is not None:
            return IntentClause(text, "polite", verb)
        return IntentClause(text, "question" if text.endswith("?") else "statement")
    if _NEGATION.match(body):
        return IntentClause(text, "negation")
    if _QUESTION_WORD.match(body) or text.rstrip().endswith("?"):
        return IntentClause(text, "question")
    verb = _head(re.findall(r"[\w'-]+", body))
    if verb is not None:
        polite_tail = body != text.strip(" ,.!?;:-") and bool(_THANKS.search(text.strip(" .!")))
        return IntentClause(text, "polite" if polite_tail else "imperative", verb)
    return IntentClause(text, "statement")


def _sentence_mood(sentence: str) -> Mood | None:
    """A mood that covers a whole sentence: a question, conditional or negation at its start."""
    body = _SOFTENERS.sub("", _OPENING.sub("", sentence.strip()))
    if _CONDITION.search(body):
        if _clause(body, None).asks:
            return "conditional"  # "reboot X if it hangs", "could you patch X once it is idle?"
        asked = _THANKS.sub("", body).rstrip(" .!,").endswith("?")
        if asked or (_QUESTION_WORD.match(body) and not _CONDITION.match(body)):
            return "question"  # "what breaks if X reboots?"
        return "conditional"
    if _NEGATION.match(body):
        return "negation"
    if "[quoted]" in body and not re.sub(r"\[quoted\]|[\s:,.;!?-]", "", body.split("[quoted]")[0]):
        return "quoted"  # the sentence is a paste with nothing of the person's own before it
    return None


# Padding that joins a request to a courtesy: "go ahead and reboot X" is one polite request.
_COURTESY = re.compile(r"\b(?:go ahead and|do me a favou?r and|be so kind as to)\s+")


def read_intent(raw: str) -> IntentReading:
    """Read one message: its clauses, how each is meant, and the change verbs it asks for."""
    cleaned = clean(raw)
    clauses: list[IntentClause] = []
    for raw_sentence in _SENTENCES.split(cleaned.text):
        sentence = _COURTESY.sub("please ", _OPENING.sub("", raw_sentence.strip()))
        if not sentence:
            continue
        mood = _sentence_mood(sentence)
        for part in _CLAUSES.split(sentence):
            if part and part.strip():
                clauses.append(_clause(_OPENING.sub("", part.strip()), mood))
    follow = len(clauses) == 1 and not clauses[0].asks and is_follow_up(cleaned.text) is not None
    assent = not cleaned.quoted and _ASSENT.match(_OPENING.sub("", cleaned.text)) is not None
    return IntentReading(
        clauses=tuple(clauses), quoted=cleaned.quoted, follow_up=follow, assent=assent
    )
