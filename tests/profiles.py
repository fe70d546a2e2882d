"""Hypothesis profiles and the example budget of the expensive stateful properties.

``HYPOTHESIS_PROFILE`` picks one: ``ci`` (the default when ``CI=true``) is derandomised, so a red
CI run is reproduced by running it again, and every CI run replays the same examples; ``dev``
(the default elsewhere) explores new examples each run; ``thorough`` is the deliberate hunt (the
nightly run): ten times the examples of each property, and the full budget of the stateful ones.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["PROFILE", "budget"]

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("thorough", deadline=None, print_blob=True, max_examples=1000)

PROFILE = os.environ.get(
    "HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
)
settings.load_profile(PROFILE)


def budget(full: int, *, routine: int) -> int:
    """How many examples (or raced changes) an expensive test runs: each costs a database world.

    ``full`` under the ``thorough`` profile, ``routine`` under ``ci`` and ``dev``: a
    derandomised CI run replays the same examples every time, so beyond a few hundred they only
    re-check what the last run checked; new ground is found by ``dev`` runs and the nightly
    ``thorough`` run.
    """
    return full if PROFILE == "thorough" else routine
