"""Settings entries for every vendor, matching the credentials the vendor fakes accept.

Each case is (category, settings entry as it would come from YAML, fake factory). Shared by the
registry tests and the ``opshand adapters check`` tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from adapters.integration_config import IntegrationConfig
from adapters.registry import Integration, build_integration
from tests.adapters.vendors._fakes import FakeTime
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
from tests.adapters.vendors.fakes_base import FakeVendor

Case = tuple[str, dict[str, Any], Callable[[FakeTime], FakeVendor]]

CASES: dict[str, Case] = {
    "ninjaone": (
        "rmm",
        {
            "vendor": "ninjaone",
            "base_url": "https://eu.ninjarmm.example",
            "credentials": {"client_id": "ninja-client", "client_secret": "ninja-secret"},
            "options": {"page_size": 2},
        },
        FakeNinjaOne,
    ),
    "servicenow": (
        "psa",
        {
            "vendor": "servicenow",
            "base_url": "https://acme.service-now.example",
            "credentials": {"username": "opshand", "password": "sn-pass"},
        },
        FakeServiceNow,
    ),
    "jira_sm": (
        "psa",
        {
            "vendor": "jira_sm",
            "base_url": "https://acme.atlassian.example",
            "credentials": {"email": "bot@acme.example", "api_token": "jira-token"},
            "options": {"project_key": "OPS"},
        },
        FakeJira,
    ),
    "splunk": (
        "siem",
        {
            "vendor": "splunk",
            "base_url": "https://splunk.example:8089",
            "credentials": {"token": "splunk-token"},
        },
        FakeSplunk,
    ),
    "okta": (
        "identity",
        {
            "vendor": "okta",
            "base_url": FakeOkta.BASE,
            "credentials": {"api_token": "okta-api-token"},
            "options": {"break_glass_logins": ["breakglass@acme.example"]},
        },
        FakeOkta,
    ),
    "entra": (
        "identity",
        {
            "vendor": "entra",
            "credentials": {
                "tenant_id": "tenant-1",
                "client_id": "app-client",
                "client_secret": "graph-secret",
            },
        },
        FakeGraph,
    ),
    "veeam": (
        "backup",
        {
            "vendor": "veeam",
            "base_url": "https://vbr.example:9419",
            "credentials": {"username": "svc-opshand", "password": "veeam-pass"},
        },
        FakeVeeam,
    ),
    "opnsense": (
        "firewall",
        {
            "vendor": "opnsense",
            "base_url": "https://fw.example",
            "credentials": {"api_key": "opn-key", "api_secret": "opn-secret"},
        },
        FakeOPNsense,
    ),
    "fortigate": (
        "firewall",
        {
            "vendor": "fortigate",
            "base_url": "https://fgt.example",
            "credentials": {"api_token": "forti-token"},
        },
        FakeFortiGate,
    ),
    "datto_rmm": (
        "rmm",
        {
            "vendor": "datto_rmm",
            "base_url": "https://merlot-api.example",
            "credentials": {"api_key": "datto-key", "api_secret": "datto-secret"},
            "options": {"patch_component_uid": "cmp-patch", "page_size": 2},
        },
        FakeDatto,
    ),
    "connectwise": (
        "psa",
        {
            "vendor": "connectwise",
            "base_url": "https://api-na.myconnectwise.example",
            "credentials": {
                "company_id": "acme",
                "public_key": "pub-key",
                "private_key": "cw-private",
                "client_id": "11111111-2222-3333-4444-555555555555",
            },
            "options": {"board_id": 1, "customer_company_id": 250},
        },
        FakeConnectWise,
    ),
    "sentinel": (
        "siem",
        {
            "vendor": "sentinel",
            "credentials": {
                "tenant_id": "tenant-1",
                "client_id": "arm-client",
                "client_secret": "arm-secret",
            },
            "options": {
                "subscription_id": "sub-1",
                "resource_group": "rg-sec",
                "workspace": "law-sec",
            },
        },
        FakeSentinel,
    ),
}

# The secret credential of each case, to break it on purpose.
SECRET_FIELD = {
    "ninjaone": "client_secret",
    "servicenow": "password",
    "jira_sm": "api_token",
    "splunk": "token",
    "okta": "api_token",
    "entra": "client_secret",
    "veeam": "password",
    "opnsense": "api_secret",
    "fortigate": "api_token",
    "datto_rmm": "api_secret",
    "connectwise": "private_key",
    "sentinel": "client_secret",
}


def build_case(
    name: str,
    t: FakeTime,
    *,
    update: dict[str, Any] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[Integration, FakeVendor]:
    """Build one vendor's integration from its settings entry, over its fake."""
    category, raw, make_fake = CASES[name]
    fake = make_fake(t)
    config = IntegrationConfig.model_validate({**raw, **(update or {})})
    integration = build_integration(
        category, config, transport=transport or httpx.MockTransport(fake), hooks=t.hooks()
    )
    return integration, fake
