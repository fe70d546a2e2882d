"""A declared topology: a Backstage catalog file operators keep in git.

Backstage descriptor files (``catalog-info.yaml``: ``apiVersion``, ``kind``, ``metadata``,
``spec``; several documents per file) describe ``Component`` (a service), ``Resource``
(infrastructure: a database, a host, a cluster) and ``System`` entities, and their
``spec.dependsOn`` as entity references (``[kind:][namespace/]name``). This module reads them as
a *declared* source: relations it states never age; they go when the file stops stating them.

- A ``Component`` is a service; a ``Resource`` is a host when ``spec.type`` is ``host``,
  ``server``, ``vm`` or ``virtual-machine``, a cluster when it is ``cluster``, else a service.
- ``dependsOn`` a host reads ``runs_on``; ``dependsOn`` anything else reads ``depends_on``.
- The environment is the label ``opshand.io/env`` (or ``env``), else ``prod`` for
  ``spec.lifecycle: production``; otherwise no environment is stated.

Every mistake stops the read with ``file:line: what is wrong``, so an operator fixes the file,
not a guess (:class:`CatalogError`). Other kinds (``API``, ``Group``, ``User`` ...) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from twin import EdgeType, NodeKind, utcnow

__all__ = ["CatalogError", "CatalogFile"]

_HOST_TYPES = frozenset({"host", "server", "vm", "virtual-machine"})
_KINDS = frozenset({"component", "resource", "system"})


class CatalogError(ValueError):
    """A catalog file that cannot be read as stated, with its file and line."""


@dataclass(frozen=True)
class _Entity:
    kind: str
    name: str
    namespace: str
    line: int
    spec: dict[str, Any]
    labels: dict[str, Any]
    depends: list[tuple[str, int]]


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _find(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None


class CatalogFile:
    """:class:`adapters.topology.contract.TopologySource` over Backstage catalog files.

    Args:
        paths: One or more ``catalog-info.yaml`` files.
        clock: The observation time of a read.
    """

    source = "catalog"

    def __init__(self, *paths: Path, clock: Callable[[], datetime] = utcnow) -> None:
        if not paths:
            raise ValueError("CatalogFile needs at least one file")
        self.paths = paths
        self.clock = clock

    def _entities(self, path: Path) -> list[_Entity]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read the catalog file: {exc.strerror}") from exc
        try:
            docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 0
            raise CatalogError(f"{path}:{line}: not valid YAML: {exc.problem}") from exc
        out = []
        for doc in docs:
            if doc is None:
                continue
            at = doc.start_mark.line + 1
            if not isinstance(doc, yaml.MappingNode):
                raise CatalogError(f"{path}:{at}: a catalog entity must be a mapping")
            kind_node = _find(doc, "kind")
            kind = str(_plain(kind_node)) if kind_node is not None else ""
            if not kind:
                raise CatalogError(f"{path}:{at}: entity has no 'kind'")
            if kind.lower() not in _KINDS:
                continue
            meta = _find(doc, "metadata")
            name_node = _find(meta, "name") if isinstance(meta, yaml.MappingNode) else None
            name = _plain(name_node) if name_node is not None else None
            if not isinstance(name, str) or not name:
                raise CatalogError(f"{path}:{at}: {kind} has no metadata.name")
            ns_node = _find(meta, "namespace") if isinstance(meta, yaml.MappingNode) else None
            labels_node = _find(meta, "labels") if isinstance(meta, yaml.MappingNode) else None
            spec_node = _find(doc, "spec")
            spec = _plain(spec_node) if spec_node is not None else {}
            if not isinstance(spec, dict):
                line = spec_node.start_mark.line + 1 if spec_node is not None else at
                raise CatalogError(f"{path}:{line}: spec must be a mapping")
            deps: list[tuple[str, int]] = []
            dep_node = (
                _find(spec_node, "dependsOn") if isinstance(spec_node, yaml.MappingNode) else None
            )
            if dep_node is not None:
                if not isinstance(dep_node, yaml.SequenceNode):
                    raise CatalogError(
                        f"{path}:{dep_node.start_mark.line + 1}: {name}: dependsOn must be a list"
                    )
                for item in dep_node.value:
                    ref = _plain(item)
                    if not isinstance(ref, str) or not ref.strip():
                        raise CatalogError(
                            f"{path}:{item.start_mark.line + 1}: {name}: dependsOn entry "
                            "must be an entity reference like resource:default/erp-db"
                        )
                    deps.append((ref.strip(), item.start_mark.line + 1))
            labels = _plain(labels_node) if labels_node is not None else {}
            out.append(
                _Entity(
                    kind=kind.lower(),
                    name=name,
                    namespace=str(_plain(ns_node)) if ns_node is not None else "default",
                    line=at,
                    spec=spec,
                    labels=labels if isinstance(labels, dict) else {},
                    depends=deps,
                )
            )
        return out

    def read_topology(self) -> TopologyReport:
        """Every Component and Resource, and their ``dependsOn``.

        Raises:
            CatalogError: a file is unreadable or wrong; the message names file and line.
        """
        at = self.clock()
        ents = [(p, e) for p in self.paths for e in self._entities(p)]
        by_ref: dict[str, _Entity] = {}
        for _, e in ents:
            by_ref[f"{e.kind}:{e.namespace}/{e.name}"] = e
        records: dict[str, TopoRecord] = {}
        for path, e in ents:
            if e.kind == "system":
                continue
            rtype = str(e.spec.get("type", "")).lower()
            kind = (
                NodeKind.SERVICE
                if e.kind == "component"
                else NodeKind.HOST
                if rtype in _HOST_TYPES
                else NodeKind.CLUSTER
                if rtype == "cluster"
                else NodeKind.SERVICE
            )
            env = str(e.labels.get("opshand.io/env") or e.labels.get("env") or "")
            if not env and str(e.spec.get("lifecycle", "")).lower() == "production":
                env = "prod"
            ref = f"{e.kind}:{e.namespace}/{e.name}"
            records[ref] = TopoRecord(
                ref=ref,
                kind=kind,
                name=e.name,
                hostname=e.name if kind == NodeKind.HOST else "",
                env=env,
                attrs={"declared_in": f"{path}:{e.line}"},
            )
        links = []
        for path, e in ents:
            src = f"{e.kind}:{e.namespace}/{e.name}"
            if src not in records:
                continue
            for dep, line in e.depends:
                target = _resolve(dep, e.namespace, by_ref)
                if target is None or target not in records:
                    raise CatalogError(
                        f"{path}:{line}: {e.name} dependsOn '{dep}', which no catalog file "
                        "declares as a Component or Resource"
                    )
                edge = (
                    EdgeType.RUNS_ON
                    if records[target].kind == NodeKind.HOST
                    else EdgeType.DEPENDS_ON
                )
                if records[src].kind != NodeKind.SERVICE:
                    raise CatalogError(
                        f"{path}:{line}: {e.name} is a {records[src].kind.value}; only services "
                        "(Components and non-host Resources) may dependsOn"
                    )
                links.append(TopoLink(src=src, type=edge, dst=target))
        return TopologyReport(
            source=self.source, records=list(records.values()), links=links, observed_at=at
        )


def _resolve(ref: str, namespace: str, by_ref: dict[str, _Entity]) -> str | None:
    """``[kind:][namespace/]name`` -> the full ref of a declared entity, or ``None``."""
    kind, _, rest = ref.rpartition(":")
    ns, _, name = rest.rpartition("/")
    ns = ns or namespace
    kinds = [kind.lower()] if kind else ["component", "resource"]
    for k in kinds:
        full = f"{k}:{ns}/{name}"
        if full in by_ref:
            return full
    return None
