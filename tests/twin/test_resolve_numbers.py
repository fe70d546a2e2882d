from __future__ import annotations

import pytest

from tests.estate import small_graph
from twin.graph import UnknownEntity


def test_fuzzy_resolution_never_changes_a_number() -> None:
    g = small_graph()
    with pytest.raises(UnknownEntity) as exc:
        g.resolve("contoso-ny-web-07")
    assert "contoso-ny-web-0" in str(exc.value)


def test_fuzzy_resolution_fixes_letters_but_keeps_numbers() -> None:
    g = small_graph()
    assert g.resolve("contoso-ny-dev-01").id == "host:contoso-ny-dev-01"
    assert g.resolve("contsoo-ny-dev-01").id == "host:contoso-ny-dev-01"
