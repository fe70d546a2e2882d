"""The declared catalog (Backstage descriptor files), mistakes named by file and line.

Descriptor format: https://backstage.io/docs/features/software-catalog/descriptor-format/
(``kind`` Component / Resource / System, ``metadata.name``, ``spec.dependsOn`` as entity
references ``[kind:][namespace/]name``; Resource ``spec.type``; Component ``spec.lifecycle``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.topology.catalog import CatalogError, CatalogFile
from twin.model import EdgeType, NodeKind

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "catalog-info.yaml"


def test_catalog_reads_components_resources_and_depends_on() -> None:
    report = CatalogFile(EXAMPLE).read_topology()
    assert report.source == "catalog"
    recs = {r.name: r for r in report.records}
    assert set(recs) == {"contoso-erp-app", "contoso-erp-db", "contoso-ny-app-prod-01"}
    assert (
        recs["contoso-erp-app"].kind == NodeKind.SERVICE and recs["contoso-erp-app"].env == "prod"
    )
    assert recs["contoso-erp-db"].kind == NodeKind.SERVICE and recs["contoso-erp-db"].env == "prod"
    host = recs["contoso-ny-app-prod-01"]
    assert host.kind == NodeKind.HOST and host.hostname == "contoso-ny-app-prod-01"
    assert host.env == ""  # nothing states it: unknown, never assumed
    assert recs["contoso-erp-app"].attrs["declared_in"].endswith("catalog-info.yaml:12")
    assert {(x.src, x.type, x.dst) for x in report.links} == {
        (
            "component:default/contoso-erp-app",
            EdgeType.DEPENDS_ON,
            "resource:default/contoso-erp-db",
        ),
        (
            "component:default/contoso-erp-app",
            EdgeType.RUNS_ON,
            "resource:default/contoso-ny-app-prod-01",
        ),
    }


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("kind: Component\nmetadata:\n  name: a\n\tspec: {}\n", ":4:", "not valid YAML"),
        ("kind: Component\nmetadata:\n  title: no name\n", ":1:", "has no metadata.name"),
        (
            "kind: Component\nmetadata:\n  name: a\nspec:\n  dependsOn: resource:b\n",
            ":5:",
            "dependsOn must be a list",
        ),
        (
            "kind: Component\nmetadata:\n  name: a\nspec:\n  dependsOn:\n    - resource:nope\n",
            ":6:",
            "dependsOn 'resource:nope', which no catalog file declares",
        ),
        (
            "kind: Resource\nmetadata:\n  name: h\nspec:\n  type: vm\n  dependsOn:\n"
            "    - component:a\n---\nkind: Component\nmetadata:\n  name: a\n",
            ":7:",
            "only services",
        ),
    ],
)
def test_catalog_mistakes_name_file_and_line(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    f = tmp_path / "catalog-info.yaml"
    f.write_text(text)
    with pytest.raises(CatalogError) as exc:
        CatalogFile(f).read_topology()
    assert f"{f}{where}" in str(exc.value) and what in str(exc.value)


def test_catalog_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog file"):
        CatalogFile(tmp_path / "missing.yaml").read_topology()
