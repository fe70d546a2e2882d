"""The labelled intent corpus (corpus.tsv) and its score under :func:`agent.chat.read_intent`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.chat import read_intent

CORPUS = Path(__file__).with_name("corpus.tsv")
LABELS = ("imperative", "polite", "question", "conditional", "negation", "quoted")


@dataclass(frozen=True)
class Row:
    split: str
    label: str
    verbs: frozenset[str]
    sentence: str

    @property
    def authorises(self) -> bool:
        return bool(self.verbs)


@dataclass(frozen=True)
class Score:
    rows: int
    decided_right: int
    """Authorise / not-authorise (and the verbs asked for) as labelled."""
    labelled_right: int
    false_authorisations: int
    """Sentences labelled as asking for nothing that the reader read as a request."""
    wrong: tuple[str, ...]

    def line(self, name: str) -> str:
        return (
            f"{name:<8} {self.rows:>4} sentences  authorise/not {self.decided_right}/{self.rows} "
            f"({100 * self.decided_right / max(self.rows, 1):.1f}%)  labels {self.labelled_right}/"
            f"{self.rows}  false authorisations {self.false_authorisations}"
        )


def load(path: Path = CORPUS) -> list[Row]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        split, label, verbs, text = line.split("\t", 3)
        if split not in ("train", "heldout") or label not in LABELS:
            raise ValueError(f"{path}:{n}: bad split or label: {split!r} {label!r}")
        sentence = text.encode("ascii").decode("unicode_escape")
        wanted = frozenset() if verbs == "-" else frozenset(verbs.split("+"))
        rows.append(Row(split, label, wanted, sentence))
    return rows


def score(rows: list[Row]) -> Score:
    decided = labelled = false_auth = 0
    wrong = []
    for row in rows:
        reading = read_intent(row.sentence)
        ok = reading.verbs == row.verbs
        decided += ok
        labelled += reading.mood == row.label
        false_auth += bool(reading.verbs) and not row.authorises
        if not ok or reading.mood != row.label:
            wrong.append(f"{row.sentence!r}: read {reading.mood} {sorted(reading.verbs)}")
    return Score(len(rows), decided, labelled, false_auth, tuple(wrong))
