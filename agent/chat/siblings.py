"""A number suffix after a full name means that name's sibling: "reboot web-prod-01 and -02".

People shorten a list of siblings to the first full name and the numbers of the others
("contoso-ny-web-prod-01 and -02", "… -01, -02 and -03"). :func:`expand_siblings` writes each such
suffix out in full (``contoso-ny-web-prod-02``) before anything reads the message, so the parser
and the named-set guard see the same names, and a bare "-02" is never matched to some other
entity that happens to end in 02 (a workstation).
"""

from __future__ import annotations

import re

__all__ = ["expand_siblings", "last_name"]

_NAME = re.compile(r"(?P<stem>[A-Za-z][\w.]*(?:-[\w.]+)*-)(?P<n>\d{1,4})")
_SUFFIX = re.compile(r"-(?P<n>\d{1,4})")
_TOKEN = re.compile(r"[^\s,;&+/()]+")
_CHANGE_REF = re.compile(r"CR-\d+", re.I)
_EDGE = "`'\"*_.:?!"


def expand_siblings(text: str, before: str | None = None) -> str:
    """``text`` with each bare ``-NN`` after a full name ending in ``-NN`` written out in full.

    ``before``: the full name a suffix at the start refers to (the thread's subject, or the last
    name in the person's previous message: "reboot web-prod-01" then "and -02 too").

    >>> expand_siblings("reboot contoso-ny-web-prod-01 and -02 tonight")
    'reboot contoso-ny-web-prod-01 and contoso-ny-web-prod-02 tonight'
    """
    out: list[str] = []
    last = _NAME.fullmatch(before.strip(_EDGE)) if before else None
    pos = 0
    for token in _TOKEN.finditer(text):
        word = token.group().strip(_EDGE)
        start = token.start() + token.group().find(word) if word else token.start()
        suffix = _SUFFIX.fullmatch(word)
        if suffix is not None and last is not None:
            digits = suffix.group("n").zfill(len(last.group("n")))
            out.append(text[pos:start] + last.group("stem") + digits)
            pos = start + len(word)
            continue
        named = _NAME.fullmatch(word)
        if named is not None and not _CHANGE_REF.fullmatch(word):
            last = named
    out.append(text[pos:])
    return "".join(out)


def last_name(text: str) -> str | None:
    """The last full name ending in ``-NN`` in ``text`` (what a later "-02" refers to)."""
    names = [
        w for w in (t.group().strip(_EDGE) for t in _TOKEN.finditer(text)) if _NAME.fullmatch(w)
    ]
    return names[-1] if names else None
