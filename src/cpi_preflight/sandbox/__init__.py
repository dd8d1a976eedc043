"""A simulated SAP Cloud Integration tenant over real HTTPS on 127.0.0.1: the project's test oracle.

It keeps its own table of SAP behaviour (`sap_behaviour.yaml`) and never imports the product's
catalog, probe, diagnosis, plan, oauth or claims modules, so that it catches their mistakes.

    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]}, environment="cf")
    with Sandbox.start(spec) as sandbox:
        sandbox.connection.token_url, sandbox.connection.client_id, sandbox.requests
"""

from __future__ import annotations

from cpi_preflight.sandbox.connection import SandboxConnection
from cpi_preflight.sandbox.instance import Sandbox
from cpi_preflight.sandbox.recording import RecordedConnection, RecordedRequest
from cpi_preflight.sandbox.spec import FaultSpec, SandboxSpec

__all__ = ["FaultSpec", "RecordedConnection", "RecordedRequest", "Sandbox", "SandboxConnection",
           "SandboxSpec"]
