"""Reading an access token: JWT header and claims, signature against the issuer's key set.

Pure functions: the raw token and the key set come in, `TokenFacts` come out. No verdicts
beyond the facts themselves (verified or not, expired or not); the diagnosis decides.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from types import ModuleType

from cpi_preflight.server_text import quote
from cpi_preflight.transport import MAX_JSON_DEPTH, json_depth

SCOPE_SEPARATOR = "."
RUNTIME_APP_PREFIX = "it-rt-"
# the members of a public RSA key; a key set that also publishes d, p, q ... is read without them
PUBLIC_RSA_MEMBERS = ("kty", "kid", "use", "alg", "n", "e")
MAX_SCOPES = 500
_DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, RecursionError)


@functools.cache
def _jwt() -> ModuleType:
    """PyJWT, imported when a token is first read: with `cryptography` it is the costliest
    import of the package, and pytest's start-up and collection never need it."""
    import jwt

    return jwt


@dataclass(frozen=True)
class TokenFacts:
    """What a token says about itself; nothing secret."""

    format: str  # jwt | opaque | malformed
    problem: str = ""
    algorithm: str = ""
    key_id: str = ""
    key_url: str = ""
    issuer: str = ""
    zone: str = ""
    subaccount: str = ""
    client_id: str = ""
    grant_type: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    signature: str = "not_checked"  # verified | failed | not_checked
    signature_detail: str = ""

    def expired(self, now: datetime) -> bool:
        """Whether `exp` lies in the past at `now`."""
        return self.expires_at is not None and self.expires_at <= now

    @property
    def applications(self) -> tuple[str, ...]:
        """The xsappnames the scopes belong to (`it!b182722`, `it-rt-sub!b18631`, `uaa`)."""
        return tuple(sorted({app for app, _ in split_scopes(self.scopes)}))

    @property
    def permissions(self) -> frozenset[str]:
        """Scope suffixes after the application id (`IntegrationOperationServer.read`)."""
        return frozenset(perm for _, perm in split_scopes(self.scopes))

    @property
    def runtime_applications(self) -> tuple[str, ...]:
        """Applications of the integration-flow plan (`it-rt-<subdomain>!b<N>`) in the token."""
        names = set(self.applications) | set(self.audience) | {self.client_id.split("|")[-1]}
        return tuple(sorted(n for n in names if n.startswith(RUNTIME_APP_PREFIX)))


def split_scopes(scopes: tuple[str, ...]) -> list[tuple[str, str]]:
    """`it!b1.NodeManager.read` -> (`it!b1`, `NodeManager.read`); the app id holds no dot."""
    pairs = []
    for scope in scopes:
        app, sep, perm = scope.partition(SCOPE_SEPARATOR)
        pairs.append((app, perm) if sep else ("", app))
    return pairs


def _time(value: Any) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        return None  # NaN, infinite or out of range: no usable time


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(quote(v, 200) for v in value.split()[:MAX_SCOPES])
    if isinstance(value, list):
        return tuple(quote(v, 200) for v in value[:MAX_SCOPES])
    return ()


def _text(value: Any) -> str:
    """A claim or header value as a short clean line ('' when absent)."""
    return quote(value, 200) if value is not None else ""


def looks_like_jwt(raw: str) -> bool:
    """Three base64url parts separated by dots, the first decoding to a JSON header."""
    return _decoded(raw).format != "opaque"


class _Decoded(NamedTuple):
    """A token read once, unverified: its format (jwt, opaque or malformed), its header and
    claims (empty unless jwt), and why a malformed one cannot be read."""

    format: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    problem: str = ""


_OPAQUE = _Decoded("opaque", {}, {})


@functools.lru_cache(maxsize=1024)  # one token a profile; the run holds every token anyway
def _decoded(raw: str) -> _Decoded:
    """`raw` decoded without its signature, once however many times a run reads it (for the
    token's facts while probing, for the HAR at the end, when a landscape's other profiles
    have been read in between); what it returns is shared, so it is only read, never changed."""
    if raw.count(".") != 2:
        return _OPAQUE
    jwt = _jwt()
    try:
        header = jwt.get_unverified_header(raw)
    except (jwt.InvalidTokenError, RecursionError):
        return _OPAQUE
    try:
        claims = jwt.decode(raw, options={"verify_signature": False})
    except RecursionError:
        return _Decoded("malformed", {}, {}, "the token is not a readable JWT: its payload "
                        "nests too deeply to be claims")
    except (jwt.PyJWTError, *_DECODE_ERRORS) as exc:
        return _Decoded("malformed", {}, {}, f"the token is not a readable JWT: {quote(exc)}")
    return _Decoded("jwt", header, claims)


def header_and_claims(raw: str) -> dict[str, Any] | None:
    """A JWT as exchanges.har shows it in place of the token: `{"jwt_header": ...,
    "jwt_claims": ...}`, unverified; None for anything else (an opaque or unreadable token, or
    claims nesting deeper than any answer we read). A copy: the caller may change it."""
    decoded = _decoded(raw)
    if decoded.format != "jwt":
        return None
    shown = {"jwt_header": decoded.header, "jwt_claims": decoded.claims}
    return copy.deepcopy(shown) if json_depth(shown) <= MAX_JSON_DEPTH else None


def _facts_from_claims(header: Mapping[str, Any], claims: Mapping[str, Any]) -> TokenFacts:
    ext = claims.get("ext_attr") if isinstance(claims.get("ext_attr"), dict) else {}
    assert isinstance(ext, dict)
    return TokenFacts(
        format="jwt",
        algorithm=_text(header.get("alg")), key_id=_text(header.get("kid")),
        key_url=_text(header.get("jku")), issuer=_text(claims.get("iss")),
        zone=_text(claims.get("zid")), subaccount=_text(ext.get("subaccountid")),
        client_id=_text(claims.get("cid") or claims.get("client_id") or None),
        grant_type=_text(claims.get("grant_type")),
        issued_at=_time(claims.get("iat")), expires_at=_time(claims.get("exp")),
        scopes=_strings(claims.get("scope")), audience=_strings(claims.get("aud")),
    )


def _verify(raw: str, key_id: str, jwks: Any) -> tuple[str, str]:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        return "not_checked", "the issuer's token_keys answer holds no key list"
    published = [k for k in keys if isinstance(k, dict)]
    match = [k for k in published if k.get("kid") == key_id]
    if not match:
        known = quote(", ".join(str(k.get("kid")) for k in published[:20]) or "none", 200)
        return "failed", f"key id '{key_id}' is not in the issuer's token_keys (has: {known})"
    if match[0].get("kty") != "RSA":
        return "failed", (f"key '{key_id}' in token_keys is unusable: not an RSA key "
                          f"(kty {quote(repr(match[0].get('kty')), 40)})")
    public = {k: v for k, v in match[0].items() if k in PUBLIC_RSA_MEMBERS}
    jwt = _jwt()
    try:
        key = jwt.PyJWK(public).key
    except (jwt.PyJWTError, *_DECODE_ERRORS) as exc:
        return "failed", f"key '{key_id}' in token_keys is unusable: {quote(exc)}"
    return _check_signature(raw, key_id, key)


def _check_signature(raw: str, key_id: str, key: Any) -> tuple[str, str]:
    jwt = _jwt()
    try:
        jwt.decode(raw, key=key, algorithms=["RS256"],
                   options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                            "verify_nbf": False})
    except jwt.InvalidKeyError as exc:
        return "failed", f"key '{key_id}' in token_keys is unusable: {quote(exc)}"
    except jwt.InvalidSignatureError:
        return "failed", f"signature does not verify with key '{key_id}' of the issuer"
    except (jwt.PyJWTError, *_DECODE_ERRORS) as exc:
        return "failed", f"token cannot be verified: {quote(exc)}"
    return "verified", f"RS256 signature verified with key '{key_id}'"


def read_token(raw: str, jwks: Any = None) -> TokenFacts:
    """Decode `raw`; verify its signature when a key set is given. Never raises."""
    decoded = _decoded(raw)
    if decoded.format != "jwt":
        return TokenFacts(format=decoded.format, problem=decoded.problem)
    facts = _facts_from_claims(decoded.header, decoded.claims)
    if jwks is None:
        return facts
    signature, detail = _verify(raw, facts.key_id, jwks)
    return _with_signature(facts, signature, detail)


def _with_signature(facts: TokenFacts, signature: str, detail: str) -> TokenFacts:
    return replace(facts, signature=signature, signature_detail=detail)
