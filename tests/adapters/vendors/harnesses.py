"""Contract harnesses: one factory per client, one list per category.

The contract suites are parametrised over these lists, and each list holds the sim too
(:mod:`tests.adapters.vendors.sim_harness`: a :class:`Harness` whose ``ids`` name objects the
sim holds, same keys as below, ``fake=None``). ``ALL_FACTORIES`` is the vendor clients only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from adapters import ResilienceOptions
from adapters.vendors import (
    ActiveDirectoryClient,
    ConnectWiseClient,
    DattoRmmClient,
    EntraClient,
    FortiGateClient,
    JiraServiceManagementClient,
    NinjaOneClient,
    OktaClient,
    OPNsenseClient,
    SentinelClient,
    ServiceNowClient,
    SplunkClient,
    VeeamClient,
)
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_ad import BASE, BIND_DN, PASSWORD, directory
from tests.adapters.vendors.fake_connectwise import FakeConnectWise
from tests.adapters.vendors.fake_datto import FakeDatto
from tests.adapters.vendors.fake_fortigate import FakeFortiGate
from tests.adapters.vendors.fake_graph import FakeGraph
from tests.adapters.vendors.fake_jira import FakeJira
from tests.adapters.vendors.fake_ninjaone import FakeNinjaOne
from tests.adapters.vendors.fake_okta import FakeOkta
from tests.adapters.vendors.fake_opnsense import FakeOPNsense
from tests.adapters.vendors.fake_sentinel import FakeSentinel
from tests.adapters.vendors.fake_servicenow import FakeServiceNow
from tests.adapters.vendors.fake_splunk import FakeSplunk
from tests.adapters.vendors.fake_veeam import FakeVeeam
from tests.adapters.vendors.fakes_base import FakeVendor, Harness
from tests.adapters.vendors.sim_harness import (
    sim_backup,
    sim_firewall,
    sim_identity,
    sim_psa,
    sim_rmm,
    sim_siem,
)

Factory = Callable[[FakeTime], Harness]

OPTIONS = ResilienceOptions(
    max_attempts=3, failure_threshold=4, cool_down=30.0, retry_after_cap=30.0
)


def _over_http(
    name: str,
    fake: FakeVendor,
    client_cls: Callable[..., Any],
    t: FakeTime,
    options: ResilienceOptions,
    ids: dict[str, str],
    *args: Any,
    sink: bool = False,
    **kwargs: Any,
) -> Harness:
    """A vendor client over its fake, with the test clock and options (and a secret sink)."""
    extra: dict[str, Any] = {}
    if sink:
        secrets: dict[str, SecretStr] = {}
        kwargs["secret_sink"] = secrets.__setitem__
        extra["sink"] = secrets
    client = client_cls(
        *args, http_client=fake.client(), options=options, hooks=t.hooks(), **kwargs
    )
    return Harness(name, client, ids, fake, extra)


def _identity_ids(active: str, disabled: str, glass: str, app: str, missing: str) -> dict[str, str]:
    return {
        "active_user": active,
        "disabled_user": disabled,
        "break_glass_user": glass,
        "service_app": app,
        "missing_user": missing,
        "admin_user": active,
    }


def _rmm_ids(device: str, missing: str, script: str) -> dict[str, str]:
    return {
        "device": device,
        "patch": "KB5034441",
        "installed_patch": "KB5031539",
        "missing_device": missing,
        "script": script,
    }


def ninjaone(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "ninjaone", FakeNinjaOne(t), NinjaOneClient, t, options, _rmm_ids("1", "999", "42"),
        "https://eu.ninjarmm.example", client_id="ninja-client",
        client_secret=SecretStr("ninja-secret"), page_size=2,
    )  # fmt: skip


def servicenow(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    ids = {"ticket": f"{1:032x}", "missing_ticket": f"{999:032x}"}
    return _over_http(
        "servicenow", FakeServiceNow(t), ServiceNowClient, t, options, ids,
        "https://acme.service-now.example", username="opshand", password=SecretStr("sn-pass"),
    )  # fmt: skip


def jira(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "jira_sm", FakeJira(t), JiraServiceManagementClient, t, options,
        {"ticket": "OPS-1", "missing_ticket": "OPS-999"},
        "https://acme.atlassian.example", email="bot@acme.example",
        api_token=SecretStr("jira-token"), project_key="OPS",
    )  # fmt: skip


def splunk(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    ids = {
        "alert": "A1B2C3@@notable@@1a2b",
        "rule": "Access - Brute Force - Rule",
        "missing_rule": "No Such Rule",
        "suppress_field": "dest",
    }
    return _over_http(
        "splunk", FakeSplunk(t), SplunkClient, t, options, ids,
        "https://splunk.example:8089", token=SecretStr("splunk-token"),
    )  # fmt: skip


def okta(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "okta", FakeOkta(t), OktaClient, t, options,
        _identity_ids("00u1", "00u2", "00u3", "0oa1", "00u999"),
        FakeOkta.BASE, api_token=SecretStr("okta-api-token"),
        break_glass_logins=["breakglass@acme.example"], sink=True,
    )  # fmt: skip


def entra(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "entra", FakeGraph(t), EntraClient, t, options,
        _identity_ids("u-1", "u-2", "u-3", "app-1", "u-999"),
        tenant_id="tenant-1", client_id="app-client", client_secret=SecretStr("graph-secret"),
        break_glass_upns=["breakglass@acme.example"], sink=True,
    )  # fmt: skip


def veeam(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "veeam", FakeVeeam(t), VeeamClient, t, options,
        {"object": "db-prod-01", "point": "rp-2", "missing_point": "rp-404"},
        "https://vbr.example:9419", username="svc-opshand", password=SecretStr("veeam-pass"),
        page_size=2,
    )  # fmt: skip


def opnsense(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "opnsense", FakeOPNsense(t), OPNsenseClient, t, options,
        {"rule": "00000000-aaaa-bbbb-cccc-dddddddddddd"},
        "https://fw.example", api_key="opn-key", api_secret=SecretStr("opn-secret"), page_size=2,
    )  # fmt: skip


def fortigate(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "fortigate", FakeFortiGate(t), FortiGateClient, t, options, {"rule": "1"},
        "https://fgt.example", api_token=SecretStr("forti-token"),
    )  # fmt: skip


def datto_rmm(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "datto_rmm", FakeDatto(t), DattoRmmClient, t, options,
        _rmm_ids("dev-1", "dev-999", "cmp-42"),
        "https://merlot-api.example", api_key="datto-key", api_secret=SecretStr("datto-secret"),
        patch_component_uid="cmp-patch", reboot_component_uid="cmp-reboot",
    )  # fmt: skip


def connectwise(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    return _over_http(
        "connectwise", FakeConnectWise(t), ConnectWiseClient, t, options,
        {"ticket": "1001", "missing_ticket": "9999"},
        "https://api-na.myconnectwise.example", company_id="acme", public_key="pub-key",
        private_key=SecretStr("cw-private"), client_id="11111111-2222-3333-4444-555555555555",
        board_id=1, customer_company_id=250,
    )  # fmt: skip


def sentinel(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    ids = {
        "alert": "inc-1",
        "rule": "7f2c1e1a-0000-4000-8000-000000000001",
        "missing_rule": "no-such-rule",
        "suppress_field": "",  # Sentinel suppresses whole rules, never per field
    }
    return _over_http(
        "sentinel", FakeSentinel(t), SentinelClient, t, options, ids,
        tenant_id="tenant-1", client_id="arm-client", client_secret=SecretStr("arm-secret"),
        subscription_id="sub-1", resource_group="rg-sec", workspace="law-sec",
    )  # fmt: skip


def active_directory(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    sink: dict[str, SecretStr] = {}
    client = ActiveDirectoryClient(
        "ldaps://dc01.corp.example:636",
        bind_dn=BIND_DN,
        password=SecretStr(PASSWORD),
        base_dn=BASE,
        options=options,
        hooks=t.hooks(),
        break_glass_logins=["breakglass"],
        secret_sink=sink.__setitem__,
        connection=directory(),
    )
    ids = _identity_ids("ada", "bob", "breakglass", "svc-backup", "nobody")
    # AD refuses these by design (no LDAP session revocation, no password overlap).
    extra = {"sink": sink, "refuses": {"revoke_sessions", "rotate_secret_with_overlap"}}
    return Harness("active_directory", client, ids, None, extra)


# The sim runs the very same contract suites as the vendor clients.
RMM_FACTORIES: list[Factory] = [ninjaone, datto_rmm, sim_rmm]
PSA_FACTORIES: list[Factory] = [servicenow, jira, connectwise, sim_psa]
SIEM_FACTORIES: list[Factory] = [splunk, sentinel, sim_siem]
IDENTITY_FACTORIES: list[Factory] = [okta, entra, active_directory, sim_identity]
BACKUP_FACTORIES: list[Factory] = [veeam, sim_backup]
FIREWALL_FACTORIES: list[Factory] = [opnsense, fortigate, sim_firewall]
SIM_FACTORIES: list[Factory] = [sim_rmm, sim_psa, sim_siem, sim_identity, sim_backup, sim_firewall]
# Vendor clients only (HTTP, credentials, reprs); the sim has no wire.
ALL_FACTORIES: list[Factory] = [
    f
    for f in (
        *RMM_FACTORIES,
        *PSA_FACTORIES,
        *SIEM_FACTORIES,
        *IDENTITY_FACTORIES,
        *BACKUP_FACTORIES,
        *FIREWALL_FACTORIES,
    )
    if f not in SIM_FACTORIES and f is not active_directory  # LDAP, not HTTP
]

# Secrets the harnesses use; no error, repr or log line may ever contain one.
SECRETS = [
    "ninja-secret",
    "sn-pass",
    "jira-token",
    "splunk-token",
    "okta-api-token",
    "graph-secret",
    "veeam-pass",
    "opn-secret",
    "ninja-access-1",
    "veeam-access-1",
    "forti-token",
    "datto-secret",
    "datto-access-1",
    "cw-private",
    "arm-secret",
    "arm-access-1",
]


def ids(factories: list[Factory]) -> list[str]:
    return [f.__name__ for f in factories]
