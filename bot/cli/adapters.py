"""``opshand adapters check``: each configured integration, whether it works, what it can do."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import typer
from rich.table import Table

from adapters.health import ClientState, IntegrationCheck, check_all, client_states
from adapters.integration_config import ConfigError
from adapters.registry import Integration, build_integrations
from adapters.topology import (
    BuiltTopologySource,
    build_topology_sources,
    check_topology_source,
)
from bot.cli.common import DataDir, JsonOut, SettingsFile, boot, dump, err, out, settings

__all__ = ["IntegrationsLoader", "TopologyLoader", "register_adapters_command"]

IntegrationsLoader = Callable[
    [Path | None, Path | None], AbstractContextManager[Mapping[str, Integration]]
]
"""(data dir, settings file) -> a context holding the built integrations, closed afterwards."""

TopologyLoader = Callable[
    [Path | None, Path | None], AbstractContextManager[Sequence[BuiltTopologySource]]
]
"""(data dir, settings file) -> a context holding the built topology sources, closed afterwards."""

_STYLE = {"ok": "green", "credentials_rejected": "red", "unreachable": "red"}


@contextmanager
def _from_settings(
    data_dir: Path | None, settings_file: Path | None
) -> Iterator[dict[str, Integration]]:
    """Build integrations the way opshand starts: settings' ``integrations`` section (the sim
    for every category when absent), with the simulated estate bootstrap made."""
    oh = boot(data_dir, settings_file)
    built: dict[str, Integration] = {}
    try:
        built = build_integrations(oh.settings.integrations, sim=oh.sim)
        yield built
    finally:
        for integration in built.values():
            integration.close()
        oh.close()


@contextmanager
def _topology_from_settings(
    data_dir: Path | None, settings_file: Path | None
) -> Iterator[list[BuiltTopologySource]]:
    """The settings' ``topology.sources``, built (none: the simulated ones, not listed)."""
    built = build_topology_sources(settings(data_dir, settings_file).topology)
    try:
        yield built
    finally:
        for source in built:
            source.close()


def _table(results: list[IntegrationCheck]) -> Table:
    table = Table(title="Integrations")
    for column in ("category", "vendor", "endpoint", "credentials", "circuit", "can do"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = _STYLE.get(r.status, "yellow")
        detail = f"[{style}]{r.summary}[/{style}]"
        if r.error:
            detail += f" ({r.error} on {r.probe})"
        circuit = r.circuit if r.circuit != "open" else "[red]open[/red]"
        table.add_row(
            r.category,
            r.vendor,
            "(simulated estate)" if r.vendor == "sim" else r.base_url,
            detail,
            circuit,
            ", ".join(r.capabilities),
        )
    return table


def _clients_table(rows: list[ClientState]) -> Table:
    table = Table(title="Vendor clients")
    for column in ("category", "vendor", "state", "API checked", "operations"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = _STYLE.get(row.state, "dim" if row.state == "not_configured" else "yellow")
        state = row.state.replace("_", " ")
        table.add_row(
            row.category,
            row.vendor,
            f"[{style}]{state}[/{style}]",
            row.api_checked,
            ", ".join(row.operations),
        )
    return table


def register_adapters_command(
    app: typer.Typer,
    *,
    load: IntegrationsLoader | None = None,
    load_topology: TopologyLoader | None = None,
) -> None:
    """Add ``opshand adapters check`` to ``app``.

    Args:
        app: the root typer app.
        load: where the integrations come from (default: settings + bootstrap's sim); tests
            pass integrations over ``httpx.MockTransport`` fakes.
        load_topology: where the topology sources come from (default: settings'
            ``topology.sources``).
    """
    adapters_app = typer.Typer(
        help="Inspect the integrations opshand acts through.", no_args_is_help=True
    )
    loader = load or _from_settings
    topo_loader = load_topology or _topology_from_settings

    @adapters_app.command("check")
    def check(
        data_dir: DataDir = None,
        settings_file: SettingsFile = None,
        json_out: JsonOut = False,
        clients: bool = typer.Option(
            False, "--clients", help="With --json: every vendor client and its state instead."
        ),
    ) -> None:
        """Probe each configured integration with one cheap read; list every vendor client.

        Shows whether its credentials work (401/403: "credentials rejected"; no connection:
        "unreachable"), its circuit state and the contract methods it implements, then every
        vendor client opshand ships with its state here (``not configured`` or its probe's
        result) and the API version it was checked against. Configured topology sources
        (category ``topology``) are read once each. Exits 1 when any configured
        integration is not usable.
        """
        try:
            with loader(data_dir, settings_file) as integrations:
                results = check_all(integrations.values())
            with topo_loader(data_dir, settings_file) as sources:
                results += [check_topology_source(s) for s in sources]
        except ConfigError as exc:
            err.print(f"[red]Integration settings error:[/red] {exc}")
            raise typer.Exit(2) from exc
        catalogue = client_states(results)
        if json_out:
            rows = catalogue if clients else results
            dump([r.model_dump(mode="json") for r in rows])
        else:
            if results:
                out.print(_table(results))
            else:
                out.print("No integrations are configured.")
            out.print(_clients_table(catalogue))
        if any(not r.ok for r in results):
            raise typer.Exit(1)

    app.add_typer(adapters_app, name="adapters")
