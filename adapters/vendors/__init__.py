"""Real vendor clients, one module per vendor, each implementing one category contract.

Every client takes a base URL, ``SecretStr`` credentials, an injected ``httpx.Client`` and
:class:`adapters._http.ResilienceOptions`, sends through :class:`adapters._http.ResilientHttp`
and raises only :mod:`adapters.errors` types.
"""

from __future__ import annotations

from adapters.vendors.active_directory import ActiveDirectoryClient
from adapters.vendors.connectwise import ConnectWiseClient
from adapters.vendors.datto_rmm import DattoRmmClient
from adapters.vendors.entra import EntraClient
from adapters.vendors.fortigate import FortiGateClient
from adapters.vendors.jira_sm import JiraServiceManagementClient
from adapters.vendors.ninjaone import NinjaOneClient
from adapters.vendors.okta import OktaClient, SecretSink
from adapters.vendors.opnsense import OPNsenseClient
from adapters.vendors.sentinel import SentinelClient
from adapters.vendors.servicenow import ServiceNowClient
from adapters.vendors.splunk import SplunkClient
from adapters.vendors.veeam import VeeamClient

__all__ = [
    "ActiveDirectoryClient",
    "ConnectWiseClient",
    "DattoRmmClient",
    "EntraClient",
    "FortiGateClient",
    "JiraServiceManagementClient",
    "NinjaOneClient",
    "OPNsenseClient",
    "OktaClient",
    "SecretSink",
    "SentinelClient",
    "ServiceNowClient",
    "SplunkClient",
    "VeeamClient",
]
