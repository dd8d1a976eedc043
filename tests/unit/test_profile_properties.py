"""Properties: whatever a user or a server hands over, the readers fail only in their own way.

Profiles and service keys fail with `ProfileError`; the response parsers (`claims.read_token`,
`oauth.take_token`, `transport._retry_after_seconds`) never raise. Inputs that hit a known
product bug are pinned by named examples next to the property that found them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cpi_preflight import catalog, claims, oauth, transport
from cpi_preflight import profile as profile_module
from cpi_preflight.errors import ConfigError, ProfileError
from cpi_preflight.observation import Exchange
from cpi_preflight.profile import KEYS, Profile
from cpi_preflight.secret import MASK
from cpi_preflight.service_key import ServiceKey, parse_service_key, read_service_key

from .conftest import CLIENT_ID, TOKEN_URL, Signer

PATH = Path("profiles/p.yaml")
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# --- strategies ----------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
yaml_data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
CAT = catalog.load()
names = st.sampled_from([*CAT.roles, *CAT.neo_roles, *CAT.endpoints, "MonitorDataRead", ""])
urls = st.sampled_from(["https://t.example.com/api/v1", "http://t.example.com",
                        "http://localhost:1", "t.example.com", "https://", "${UNSET}",
                        "https://${HOST}/x"])
# File keys include '~user' paths and names longer than the OS allows (both once crashed).
file_names = (st.text(alphabet=string.ascii_letters + string.digits + "./-_$~", max_size=20)
              | st.just("~nosuchuser/ca.pem") | st.just("x" * 5000))
known_values: dict[str, st.SearchStrategy[Any]] = {
    "environment": st.sampled_from(["cf", "neo", "CF", "aws", ""]) | scalars,
    "api_url": urls | scalars, "token_url": urls | scalars,
    "client_id": st.text(max_size=20) | scalars,
    "client_secret": st.text(max_size=20) | scalars,
    "certificate": file_names, "key": file_names, "service_key": file_names,
    "ca_bundle": file_names,
    "required_roles": st.lists(names | scalars, max_size=3) | names | scalars,
    "endpoints": st.lists(names | scalars, max_size=3) | names | scalars,
    "strict": scalars, "http2": scalars, "attempts": scalars, "deadline": scalars,
    "expiry_warning_days": scalars,
    "timeout": st.dictionaries(st.sampled_from(["connect", "read", "x"]), scalars) | scalars,
    "description": scalars,
    "simulated": st.sampled_from(["sandbox", "", "x"]) | scalars,
}


@st.composite
def profile_mappings(draw: st.DrawFn) -> dict[Any, Any]:
    """Mappings that look like profiles: known keys with plausible or wild values."""
    keys = draw(st.lists(st.sampled_from(list(known_values)), unique=True, max_size=10))
    data: dict[Any, Any] = {k: draw(known_values[k]) for k in keys}
    if draw(st.booleans()):
        data.update(draw(st.dictionaries(st.text(max_size=8), yaml_data, max_size=2)))
    return data


def reject_or_accept(data: object, environ: dict[str, str] | None = None) -> None:
    try:
        result = profile_module.parse("p", PATH, data, environ or {"HOST": "h.example.com"})
    except ProfileError as exc:
        message = str(exc)
    else:
        assert isinstance(result, Profile)
        assert result.environment in ("cf", "neo")
        return
    assert message.startswith(f"{PATH}: "), message


def b64(part: bytes) -> str:
    return base64.urlsafe_b64encode(part).decode().rstrip("=")


def jwt_like(header: object, payload: object, signature: bytes = b"sig") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()),
                     b64(signature)])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=10,
)
# Any number: out-of-range and NaN times once crashed read_token.
times = st.integers() | st.floats()
claim_values = st.fixed_dictionaries({}, optional={
    "exp": times | json_values, "iat": times | json_values, "scope": json_values,
    "aud": json_values, "cid": json_values, "client_id": json_values, "zid": json_values,
    "iss": json_values, "ext_attr": json_values, "grant_type": json_values,
})
headers = st.fixed_dictionaries({}, optional={
    "alg": st.sampled_from(["RS256", "HS256", "none", ""]) | json_values,
    "kid": st.text(max_size=8) | json_values, "typ": st.just("JWT"), "jku": json_values,
})


# --- profiles ------------------------------------------------------------------------------


@SETTINGS
@given(yaml_data)
def test_any_yaml_data_is_a_profile_or_a_profile_error(data: object) -> None:
    reject_or_accept(data)


@SETTINGS
@given(profile_mappings())
def test_profile_like_mappings_are_a_profile_or_a_profile_error(data: dict[Any, Any]) -> None:
    reject_or_accept(data)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["roles", "credential", "faults", "x"]), yaml_data,
                       max_size=3) | yaml_data)
def test_a_sandbox_section_fails_only_as_a_config_error(section: object) -> None:
    sandbox = pytest.importorskip("cpi_preflight.sandbox")
    if not hasattr(sandbox, "SandboxSpec"):
        pytest.skip("cpi_preflight.sandbox.SandboxSpec does not exist yet")
    data = {"environment": "cf", "required_roles": ["MonitoringDataRead"], "sandbox": section}
    with contextlib.suppress(ConfigError):
        profile_module.parse("p", PATH, data, {})


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


@SETTINGS
@given(text=st.text(max_size=200) | st.text(alphabet="{}[]:,-#&*!|>'\" \n\tab1", max_size=60))
@example(text="environment: [\n")
@example(text="a: &x 1\nb: *y\n")
@example(text="\x00")
def test_any_text_is_yaml_data_or_a_profile_error(scratch: Path, text: str) -> None:
    path = scratch / "p.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        data = profile_module.read_yaml(path)
    except ProfileError:
        return
    reject_or_accept(data)


@SETTINGS
@given(st.binary(max_size=50))
def test_any_bytes_are_yaml_data_or_a_profile_error(scratch: Path, raw: bytes) -> None:
    path = scratch / "b.yaml"
    path.write_bytes(raw)
    with contextlib.suppress(ProfileError):
        profile_module.read_yaml(path)


def test_deeply_nested_yaml_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 5000 + "]" * 5000)
    escaped = ""
    try:
        profile_module.read_yaml(path)
    except ProfileError:
        return
    except RecursionError as exc:  # kept out of the report: its traceback is 1000 frames deep
        escaped = type(exc).__name__
    assert escaped == ""


# --- service keys ------------------------------------------------------------------------

oauth_fields = st.fixed_dictionaries({}, optional={
    "clientid": st.text(max_size=10) | json_values, "clientsecret": st.text(max_size=10)
    | json_values, "url": st.text(max_size=10) | json_values,
    "tokenurl": st.text(max_size=10) | json_values, "certurl": json_values,
    "certificate": st.sampled_from(["-----BEGIN CERTIFICATE-----\nMIIB\n"]) | json_values,
    "key": st.sampled_from(["-----BEGIN PRIVATE KEY-----\\nMIIE\\n"]) | json_values,
    "certificatedetails": json_values,
})


@SETTINGS
@given(json_values | oauth_fields | st.builds(lambda f: {"oauth": f}, oauth_fields | json_values))
def test_any_json_is_a_service_key_or_a_profile_error(data: object) -> None:
    try:
        found = parse_service_key(Path("key.json"), data)
    except ProfileError as exc:
        message = str(exc)
    else:
        assert isinstance(found, ServiceKey)
        assert found.key_type in ("secret", "certificate")
        assert (found.client_secret is None) == (found.key_type == "certificate")
        return
    assert message.startswith("key.json: ")


@SETTINGS
@given(st.text(max_size=100))
def test_any_service_key_file_is_read_or_a_profile_error(scratch: Path, text: str) -> None:
    path = scratch / "key.json"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ProfileError):
        read_service_key(path)


# --- token facts ----------------------------------------------------------------------------


@SETTINGS
@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-]{0,40}\.[A-Za-z0-9_\-]{0,40}\."
                                             r"[A-Za-z0-9_\-]{0,20}", fullmatch=True))
def test_any_text_is_read_without_raising(raw: str) -> None:
    facts = claims.read_token(raw)
    assert facts.format in ("jwt", "opaque", "malformed")
    assert facts.signature == "not_checked"


@SETTINGS
@given(headers, claim_values, st.binary(max_size=40))
def test_any_jwt_like_token_is_read_without_raising(header: dict[str, Any],
                                                    payload: dict[str, Any],
                                                    signature: bytes) -> None:
    facts = claims.read_token(jwt_like(header, payload, signature))
    assert facts.format in ("jwt", "opaque", "malformed")
    facts.expired(datetime.now(UTC))
    assert isinstance(facts.permissions, frozenset)
    assert isinstance(facts.runtime_applications, tuple)


@SETTINGS
@given(headers, claim_values, json_values)
def test_any_key_set_without_the_token_s_key_id_is_handled(header: dict[str, Any],
                                                           payload: dict[str, Any],
                                                           jwks: object) -> None:
    token = jwt_like({**header, "alg": "RS256", "kid": "the-kid"}, payload)
    if isinstance(jwks, dict) and isinstance(jwks.get("keys"), list):
        jwks["keys"] = [k for k in jwks["keys"]
                        if not (isinstance(k, dict) and k.get("kid") == "the-kid")]
    facts = claims.read_token(token, jwks)
    assert facts.signature in ("failed", "not_checked")


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
def test_a_signed_token_with_any_claims_verifies_with_its_key(signer: Signer,
                                                              extra: dict[str, Any]) -> None:
    registered = ("exp", "iat", "nbf", "aud", "iss", "sub", "jti", "kid")
    payload = {k: v for k, v in extra.items() if k not in registered}
    facts = claims.read_token(signer.token(**payload), signer.jwks())
    assert facts.signature == "verified", facts.signature_detail


@SETTINGS
@given(headers, claim_values | st.fixed_dictionaries(
    {"exp": st.floats(allow_nan=True) | st.integers()}))
@example(header={"alg": "RS256"}, payload={"exp": 1e20})
def test_any_jwt_like_token_with_any_times_is_read_without_raising(
        header: dict[str, Any], payload: dict[str, Any]) -> None:
    claims.read_token(jwt_like(header, payload))


@SETTINGS
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
@example(key={})
def test_any_key_with_the_token_s_key_id_is_handled(key: dict[str, Any]) -> None:
    token = jwt_like({"alg": "RS256", "kid": "the-kid"}, {"exp": 1})
    facts = claims.read_token(token, {"keys": [{**key, "kid": "the-kid"}]})
    assert facts.signature == "failed"


# --- token responses --------------------------------------------------------------------


@SETTINGS
@given(json_values | st.dictionaries(st.sampled_from(["access_token", "token_type", "x"]),
                                     json_values | st.text(max_size=20)),
       st.sampled_from([200, 201, 400, 401, 500]) | st.integers(100, 599),
       st.text(max_size=40))
def test_any_token_response_is_split_without_raising(body: object, status: int,
                                                     text: str) -> None:
    exchange = Exchange("POST", TOKEN_URL, status, json=body, body=text)
    cleaned, token = oauth.take_token(exchange)
    answered = status == 200 and isinstance(body, dict) and "access_token" in body
    if not answered:
        assert (cleaned, token) == (exchange, None)
        return
    assert isinstance(body, dict)
    assert cleaned.body == ""
    assert cleaned.json["access_token"] in (MASK, oauth.UNUSABLE)
    assert {k: v for k, v in cleaned.json.items() if k != "access_token"} == {
        k: v for k, v in body.items() if k != "access_token"}
    if token is not None:
        assert cleaned.json["access_token"] == MASK
        assert token.reveal() == body["access_token"].strip()


def test_take_token_keeps_other_fields_and_the_client_id_readable() -> None:
    exchange = Exchange("POST", TOKEN_URL, 200, json={"access_token": "t0k3n-value",
                                                      "client": CLIENT_ID}, body="raw")
    cleaned, _ = oauth.take_token(exchange)
    assert cleaned.json == {"access_token": MASK, "client": CLIENT_ID}


# --- Retry-After ------------------------------------------------------------------------

http_dates = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT"))
no_letters = st.text(alphabet=string.digits + string.punctuation + " \t", max_size=30)


@SETTINGS
@given(st.integers(0, 10**9).map(str) | http_dates | no_letters | st.just(""))
def test_retry_after_never_raises_on_ascii_values(value: str) -> None:
    seconds = transport._retry_after_seconds(value)
    assert seconds is None or seconds >= 0
    delay = transport.RetryPolicy().delay(0, value)
    assert 0 <= delay <= transport.RETRY_AFTER_CAP


@SETTINGS
@given(st.text(max_size=40))
@example(value="²")
@example(value="Mon, 01 Jan 2024 00:00:00 -0000")
def test_retry_after_never_raises(value: str) -> None:
    transport._retry_after_seconds(value)


@pytest.mark.parametrize("value", ["²", "Mon, 01 Jan 2024 00:00:00 -0000", "1 Jan 2024 10:00:00"])
def test_retry_after_odd_values_fall_back_to_backoff(value: str) -> None:
    assert transport._retry_after_seconds(value) in (None, 0.0)


def test_keys_cover_the_reader() -> None:
    assert set(known_values) | {"sandbox"} == set(KEYS)
