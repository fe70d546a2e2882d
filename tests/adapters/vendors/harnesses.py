"""Contract harnesses: one factory per client, one list per category.

The contract suites are parametrised over these lists, and each list holds the sim too
(:mod:`tests.adapters.vendors.sim_harness`: a :class:`Harness` whose ``ids`` name objects the
sim holds, same keys as below, ``fake=None``). ``ALL_FACTORIES`` is the vendor clients only.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from adapters._http import ResilienceOptions
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
from tests.adapters.vendors.fakes_base import Harness
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


def ninjaone(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeNinjaOne(t)
    client = NinjaOneClient(
        "https://eu.ninjarmm.example",
        client_id="ninja-client",
        client_secret=SecretStr("ninja-secret"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        page_size=2,
    )
    ids = {
        "device": "1",
        "patch": "KB5034441",
        "installed_patch": "KB5031539",
        "missing_device": "999",
        "script": "42",
    }
    return Harness("ninjaone", client, ids, fake)


def servicenow(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeServiceNow(t)
    client = ServiceNowClient(
        "https://acme.service-now.example",
        username="opshand",
        password=SecretStr("sn-pass"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
    )
    return Harness(
        "servicenow", client, {"ticket": f"{1:032x}", "missing_ticket": f"{999:032x}"}, fake
    )


def jira(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeJira(t)
    client = JiraServiceManagementClient(
        "https://acme.atlassian.example",
        email="bot@acme.example",
        api_token=SecretStr("jira-token"),
        http_client=fake.client(),
        project_key="OPS",
        options=options,
        hooks=t.hooks(),
    )
    return Harness("jira_sm", client, {"ticket": "OPS-1", "missing_ticket": "OPS-999"}, fake)


def splunk(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeSplunk(t)
    client = SplunkClient(
        "https://splunk.example:8089",
        token=SecretStr("splunk-token"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
    )
    ids = {
        "alert": "A1B2C3@@notable@@1a2b",
        "rule": "Access - Brute Force - Rule",
        "missing_rule": "No Such Rule",
        "suppress_field": "dest",
    }
    return Harness("splunk", client, ids, fake)


def okta(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeOkta(t)
    sink: dict[str, SecretStr] = {}
    client = OktaClient(
        FakeOkta.BASE,
        api_token=SecretStr("okta-api-token"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        break_glass_logins=["breakglass@acme.example"],
        secret_sink=sink.__setitem__,
    )
    ids = {
        "active_user": "00u1",
        "disabled_user": "00u2",
        "break_glass_user": "00u3",
        "service_app": "0oa1",
        "missing_user": "00u999",
        "admin_user": "00u1",
    }
    return Harness("okta", client, ids, fake, {"sink": sink})


def entra(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeGraph(t)
    sink: dict[str, SecretStr] = {}
    client = EntraClient(
        tenant_id="tenant-1",
        client_id="app-client",
        client_secret=SecretStr("graph-secret"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        break_glass_upns=["breakglass@acme.example"],
        secret_sink=sink.__setitem__,
    )
    ids = {
        "active_user": "u-1",
        "disabled_user": "u-2",
        "break_glass_user": "u-3",
        "service_app": "app-1",
        "missing_user": "u-999",
        "admin_user": "u-1",
    }
    return Harness("entra", client, ids, fake, {"sink": sink})


def veeam(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeVeeam(t)
    client = VeeamClient(
        "https://vbr.example:9419",
        username="svc-opshand",
        password=SecretStr("veeam-pass"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        page_size=2,
    )
    return Harness(
        "veeam", client, {"object": "db-prod-01", "point": "rp-2", "missing_point": "rp-404"}, fake
    )


def opnsense(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeOPNsense(t)
    client = OPNsenseClient(
        "https://fw.example",
        api_key="opn-key",
        api_secret=SecretStr("opn-secret"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        page_size=2,
    )
    return Harness("opnsense", client, {"rule": "00000000-aaaa-bbbb-cccc-dddddddddddd"}, fake)


def fortigate(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeFortiGate(t)
    client = FortiGateClient(
        "https://fgt.example",
        api_token=SecretStr("forti-token"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
    )
    return Harness("fortigate", client, {"rule": "1"}, fake)


def datto_rmm(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeDatto(t)
    client = DattoRmmClient(
        "https://merlot-api.example",
        api_key="datto-key",
        api_secret=SecretStr("datto-secret"),
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
        patch_component_uid="cmp-patch",
        reboot_component_uid="cmp-reboot",
    )
    ids = {
        "device": "dev-1",
        "patch": "KB5034441",
        "installed_patch": "KB5031539",
        "missing_device": "dev-999",
        "script": "cmp-42",
    }
    return Harness("datto_rmm", client, ids, fake)


def connectwise(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeConnectWise(t)
    client = ConnectWiseClient(
        "https://api-na.myconnectwise.example",
        company_id="acme",
        public_key="pub-key",
        private_key=SecretStr("cw-private"),
        client_id="11111111-2222-3333-4444-555555555555",
        http_client=fake.client(),
        board_id=1,
        customer_company_id=250,
        options=options,
        hooks=t.hooks(),
    )
    return Harness("connectwise", client, {"ticket": "1001", "missing_ticket": "9999"}, fake)


def sentinel(t: FakeTime, options: ResilienceOptions = OPTIONS) -> Harness:
    fake = FakeSentinel(t)
    client = SentinelClient(
        tenant_id="tenant-1",
        client_id="arm-client",
        client_secret=SecretStr("arm-secret"),
        subscription_id="sub-1",
        resource_group="rg-sec",
        workspace="law-sec",
        http_client=fake.client(),
        options=options,
        hooks=t.hooks(),
    )
    ids = {
        "alert": "inc-1",
        "rule": "7f2c1e1a-0000-4000-8000-000000000001",
        "missing_rule": "no-such-rule",
        "suppress_field": "",  # Sentinel suppresses whole rules, never per field
    }
    return Harness("sentinel", client, ids, fake)


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
    ids = {
        "active_user": "ada",
        "disabled_user": "bob",
        "break_glass_user": "breakglass",
        "service_app": "svc-backup",
        "missing_user": "nobody",
        "admin_user": "ada",
    }
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
