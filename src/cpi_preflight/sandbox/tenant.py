"""`Tenant`: the state one simulated tenant's hosts share (identity, keys, faults, tokens)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from cpi_preflight.sandbox.behaviour import Behaviour
from cpi_preflight.sandbox.faults import FaultState
from cpi_preflight.sandbox.identity import TenantIdentity
from cpi_preflight.sandbox.signing import TokenSigner
from cpi_preflight.sandbox.spec import SandboxSpec

CF_TOKEN_PATH = "/oauth/token"
NEO_TOKEN_PATH = "/oauth2/api/v1/token"
# Hosts that answer everything themselves, started only when faults.api_url points at them.
WRONG_API_HOSTS = {"runtime": "runtime", "integration_suite": "integration_suite",
                   "unknown_route": "router"}


@dataclass(frozen=True)
class OpaqueToken:
    """What the Neo OAuth service remembers about an opaque token it issued."""

    client_id: str
    expired: bool
    foreign: bool


class OpaqueTokens:
    """Thread-safe store of the opaque tokens a Neo sandbox issued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, OpaqueToken] = {}

    def issue(self, record: OpaqueToken) -> str:
        """Remember `record` under a fresh 32-hex token and return the token."""
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = record
        return token

    def lookup(self, token: str) -> OpaqueToken | None:
        """The record of an issued token, or None for a token this sandbox never issued."""
        with self._lock:
            return self._tokens.get(token)


@dataclass
class Tenant:
    """Everything the simulated hosts of one sandbox read while answering requests."""

    spec: SandboxSpec
    identity: TenantIdentity
    behaviour: Behaviour
    faults: FaultState
    signer: TokenSigner | None
    accepted_client_cert: bytes | None
    urls: dict[str, str] = field(default_factory=dict)
    opaque_tokens: OpaqueTokens = field(default_factory=OpaqueTokens)
    issued_tokens: list[str] = field(default_factory=list)  # for leak tests; append is atomic

    def now(self) -> float:
        """The tenant's clock: this machine's plus the clock_offset_s fault."""
        return time.time() + self.spec.faults.clock_offset_s

    @property
    def token_host(self) -> str:
        """The host that issues tokens to this tenant's client ("" on edge: there is none)."""
        if self.spec.environment == "neo":
            return "neo_oauth"
        if self.spec.environment == "edge":
            return ""
        return "xsuaa_cert" if self.spec.credential == "certificate" else "xsuaa"

    @property
    def token_path(self) -> str:
        """The token endpoint's path in this environment."""
        return NEO_TOKEN_PATH if self.spec.environment == "neo" else CF_TOKEN_PATH

    def hosts(self) -> tuple[str, ...]:
        """The hosts this tenant simulates (a dead host is still listed: its port is closed)."""
        if self.spec.environment == "neo":
            return ("neo_oauth", "api", "ui")
        if self.spec.environment == "edge":
            return ("api",)
        wrong = WRONG_API_HOSTS.get(self.spec.faults.api_url)
        return ("xsuaa", "xsuaa_cert", "api", "ui", *((wrong,) if wrong else ()))

    def dead_host(self) -> str | None:
        """The host whose port is closed, if the dead_host fault is on."""
        dead = self.spec.faults.dead_host
        if dead == "none":
            return None
        return self.token_host if dead == "token" else "api"
