"""claims: reading a token, checking its signature against token_keys, and its scopes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cpi_preflight import claims
from cpi_preflight.claims import TokenFacts, looks_like_jwt, read_token, split_scopes

from .conftest import NOW, Signer, cf_claims, xsuaa_fixture


@pytest.fixture(autouse=True)
def _decode_anew() -> None:
    """Each test reads its tokens anew: some change PyJWT, which the cache of decoded tokens
    would not see."""
    claims._decoded.cache_clear()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def with_payload(token: str, payload: dict[str, object]) -> str:
    """`token` with its payload replaced, keeping the original header and signature."""
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


@pytest.fixture(scope="module")
def real_token() -> str:
    return xsuaa_fixture("xsuaa-cc-token-rs256.txt").read_text().strip()


@pytest.fixture(scope="module")
def real_jwks() -> dict[str, object]:
    return json.loads(xsuaa_fixture("token_keys.json").read_text())


def only_key(jwks: dict[str, object], kid: str) -> dict[str, object]:
    keys = jwks["keys"]
    assert isinstance(keys, list)
    return {"keys": [k for k in keys if k["kid"] == kid]}


# --- the real XSUAA token ----------------------------------------------------------------


def test_the_real_xsuaa_token_verifies_with_key_id_1(real_token: str,
                                                     real_jwks: dict[str, object]) -> None:
    facts = read_token(real_token, only_key(real_jwks, "key-id-1"))
    assert facts.signature == "verified"
    assert facts.signature_detail == "RS256 signature verified with key 'key-id-1'"


def test_the_real_xsuaa_token_s_facts(real_token: str) -> None:
    facts = read_token(real_token)
    assert facts == TokenFacts(
        format="jwt", algorithm="RS256", key_id="key-id-1",
        key_url="https://authentication.stagingaws.hanavlab.ondemand.com/token_keys",
        issuer="http://localhost:8080/uaa/oauth/token", zone="uaa", subaccount="",
        client_id="sap_osb", grant_type="client_credentials",
        issued_at=datetime.fromtimestamp(1572017569, UTC),
        expires_at=datetime.fromtimestamp(1572060769, UTC),
        scopes=("ROLE_SERVICEBROKER", "uaa.resource"), audience=("uaa", "sap_osb"),
    )
    assert facts.signature == "not_checked"
    assert facts.expired(NOW)
    assert not facts.expired(datetime(2019, 10, 25, tzinfo=UTC))


def test_a_tampered_token_fails_with_the_exact_detail(real_token: str,
                                                      real_jwks: dict[str, object]) -> None:
    claims = jwt.decode(real_token, options={"verify_signature": False})
    forged = with_payload(real_token, {**claims, "scope": [*claims["scope"],
                                                           "it!b1.NodeManager.read"]})
    facts = read_token(forged, real_jwks)
    assert facts.format == "jwt"
    assert "it!b1.NodeManager.read" in facts.scopes
    assert facts.signature == "failed"
    assert facts.signature_detail == "signature does not verify with key 'key-id-1' of the issuer"


def test_a_token_whose_key_id_is_not_published_fails(real_token: str,
                                                     real_jwks: dict[str, object]) -> None:
    facts = read_token(real_token, only_key(real_jwks, "key-id-0"))
    assert facts.signature == "failed"
    assert facts.signature_detail == (
        "key id 'key-id-1' is not in the issuer's token_keys (has: key-id-0)")


@pytest.mark.parametrize("jwks", [None, {}, {"keys": "x"}, [1], "text"])
def test_without_a_key_list_the_signature_is_not_checked(real_token: str, jwks: object) -> None:
    facts = read_token(real_token, jwks)
    assert facts.format == "jwt"
    assert facts.signature == "not_checked"
    if jwks is not None:
        assert facts.signature_detail == "the issuer's token_keys answer holds no key list"


def test_an_empty_key_list_names_none(real_token: str) -> None:
    facts = read_token(real_token, {"keys": [1, None]})
    assert facts.signature_detail == (
        "key id 'key-id-1' is not in the issuer's token_keys (has: none)")


# --- locally signed tokens ---------------------------------------------------------------


def test_a_token_signed_with_another_key_fails(signer: Signer, other_signer: Signer) -> None:
    facts = read_token(other_signer.token(**cf_claims()), signer.jwks())
    assert (facts.signature, facts.signature_detail) == (
        "failed", "signature does not verify with key 'k1' of the issuer")


def test_an_hmac_token_is_not_accepted_with_an_rsa_key(signer: Signer) -> None:
    token = jwt.encode(cf_claims(), "a-shared-secret-of-32-bytes-long!", "HS256",
                       headers={"kid": "k1"})
    facts = read_token(token, signer.jwks())
    assert (facts.signature, facts.signature_detail) == (
        "failed", "token cannot be verified: The specified alg value is not allowed")


def test_an_expired_token_still_verifies_and_reports_its_expiry(signer: Signer) -> None:
    claims = cf_claims(now=NOW - timedelta(hours=2))
    facts = read_token(signer.token(**claims), signer.jwks())
    assert facts.signature == "verified"
    assert facts.expires_at == NOW - timedelta(hours=1)
    assert facts.expired(NOW)
    assert facts.expired(NOW - timedelta(hours=1))
    assert not facts.expired(NOW - timedelta(hours=1, seconds=1))


def test_a_token_without_exp_never_expires(signer: Signer) -> None:
    facts = read_token(signer.token(scope="a.b"))
    assert facts.expires_at is None
    assert not facts.expired(NOW)


def test_claims_are_read_leniently(signer: Signer) -> None:
    facts = read_token(signer.token(scope="it!b1.NodeManager.read  uaa.resource", aud="uaa",
                                    client_id="c-1", exp="soon", iat=True, ext_attr="x"))
    assert facts.scopes == ("it!b1.NodeManager.read", "uaa.resource")
    assert facts.audience == ("uaa",)
    assert facts.client_id == "c-1"
    assert (facts.expires_at, facts.issued_at, facts.subaccount) == (None, None, "")


def test_the_subaccount_comes_from_ext_attr(signer: Signer) -> None:
    assert read_token(signer.token(**cf_claims())).subaccount == "sub-1"


# --- not a JWT ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["8271a067126f0aa93b46c2fe07c6880", "", "a.b", "a.b.c.d",
                                 "x.y.z", "Bearer abc"])
def test_an_opaque_token_is_said_to_be_opaque(raw: str) -> None:
    assert read_token(raw) == TokenFacts(format="opaque")
    assert not looks_like_jwt(raw)


@pytest.mark.parametrize(("payload", "problem"), [
    (b"not-json", "Invalid payload string: Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "Invalid payload string: must be a json object"),
])
def test_a_jwt_with_an_unreadable_payload_is_malformed(payload: bytes, problem: str) -> None:
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    raw = f"{header}.{b64(payload)}.{b64(b'sig')}"
    facts = read_token(raw)
    assert facts.format == "malformed"
    assert facts.problem == f"the token is not a readable JWT: {problem}"
    assert looks_like_jwt(raw)


# --- scopes ------------------------------------------------------------------------------


def test_split_scopes_cuts_at_the_first_dot() -> None:
    assert split_scopes(("it!b1.NodeManager.read", "uaa.resource", "openid")) == [
        ("it!b1", "NodeManager.read"), ("uaa", "resource"), ("", "openid")]


def test_permissions_and_applications_of_an_api_plan_token() -> None:
    facts = TokenFacts(format="jwt", scopes=(
        "it!b182722.IntegrationOperationServer.read", "it!b182722.NodeManager.read",
        "it!b182722.ESBDataStore.read", "uaa.resource"), client_id="sb-1!b1|it!b182722")
    assert facts.permissions == frozenset({"IntegrationOperationServer.read",
                                           "NodeManager.read", "ESBDataStore.read", "resource"})
    assert facts.applications == ("it!b182722", "uaa")
    assert facts.runtime_applications == ()


@pytest.mark.parametrize("facts", [
    TokenFacts(format="jwt", client_id="sb-x!b1|it-rt-sub!b18631"),
    TokenFacts(format="jwt", scopes=("it-rt-sub!b18631.ESBMessaging.send",)),
    TokenFacts(format="jwt", audience=("it-rt-sub!b18631", "uaa")),
])
def test_runtime_applications_of_an_integration_flow_token(facts: TokenFacts) -> None:
    assert facts.runtime_applications == ("it-rt-sub!b18631",)


def test_runtime_applications_are_read_from_a_signed_token(signer: Signer) -> None:
    facts = read_token(signer.token(cid="sb-x!b1|it-rt-sub!b18631",
                                    scope=["it-rt-sub!b18631.ESBMessaging.send", "uaa.resource"]))
    assert facts.runtime_applications == ("it-rt-sub!b18631",)
    assert facts.permissions == frozenset({"ESBMessaging.send", "resource"})


# --- once crashed: kept as regressions ---------------------------------------------------


def test_an_absurd_expiry_does_not_break_reading(signer: Signer) -> None:
    assert read_token(signer.token(exp=10**20)).expires_at is None


@pytest.mark.parametrize("key", [{"kid": "k1"}, {"kid": "k1", "kty": "RSA", "n": "AQAB",
                                                 "e": "AQAB"},
                                 {"kid": "k1", "kty": "oct", "k": "c2VjcmV0"}])
def test_an_unusable_published_key_fails_the_signature(signer: Signer,
                                                       key: dict[str, str]) -> None:
    facts = read_token(signer.token(**cf_claims()), {"keys": [key]})
    assert facts.signature == "failed"
    assert facts.signature_detail.startswith("key 'k1' in token_keys is unusable: ")


# --- a hostile issuer: key sets and claims that are not what they should be ---------------


def test_a_key_set_that_also_publishes_private_members_still_verifies(signer: Signer) -> None:
    private = jwt.algorithms.RSAAlgorithm.to_jwk(signer.key, as_dict=True)
    facts = read_token(signer.token(**cf_claims()), {"keys": [{**private, "kid": "k1"}]})
    assert (facts.signature, facts.signature_detail) == (
        "verified", "RS256 signature verified with key 'k1'")


@pytest.mark.parametrize("key", [{"kid": "k1", "kty": "RSA", "n": 5, "e": []},
                                 {"kid": "k1", "kty": "RSA", "n": None, "e": "AQAB"},
                                 {"kid": "k1", "kty": "RSA", "n": {"x": 1}, "e": "AQAB"}])
def test_a_published_key_of_absurd_types_fails_the_signature(signer: Signer,
                                                             key: dict[str, object]) -> None:
    facts = read_token(signer.token(**cf_claims()), {"keys": [key]})
    assert facts.signature == "failed"
    assert facts.signature_detail.startswith("key 'k1' in token_keys is unusable: ")


def test_claims_are_quoted_as_short_clean_lines(signer: Signer) -> None:
    facts = read_token(signer.token(**cf_claims(
        "x\x1b[31m.read\r\nforged", zid="zone\u202e-1\x07", iss="i" * 1000)))
    assert facts.zone == "zone-1"
    assert facts.scopes[0] == "x.read forged"
    assert facts.issuer == "i" * 197 + "..."


def test_a_key_id_listing_is_short_and_clean(signer: Signer) -> None:
    keys = [{"kid": f"\x1b[2Kk{i}\n"} for i in range(1000)]
    facts = read_token(signer.token(**cf_claims()), {"keys": keys})
    assert facts.signature == "failed"
    assert facts.signature_detail.startswith(
        "key id 'k1' is not in the issuer's token_keys (has: k0 , k1 , k2 ")
    assert len(facts.signature_detail) < 300
    assert "\x1b" not in facts.signature_detail


def test_a_token_whose_payload_nests_too_deeply_is_malformed() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    header = b64(b'{"alg": "RS256"}')
    raw = f"{header}.{b64(deep)}.c2ln"
    facts = read_token(raw)
    assert facts.format == "malformed"
    assert facts.problem.startswith("the token is not a readable JWT: ")


# --- pinned by mutation testing (mutation/run claims) ------------------------------------


def test_scopes_and_audiences_are_cut_at_200_characters(signer: Signer) -> None:
    long = "it!b1." + "s" * 300
    facts = read_token(signer.token(scope=f"{long} uaa.resource", aud=[long, "uaa"]))
    assert facts.scopes == ("it!b1." + "s" * 191 + "...", "uaa.resource")
    assert facts.audience == ("it!b1." + "s" * 191 + "...", "uaa")


def test_cid_names_the_client_before_client_id(signer: Signer) -> None:
    assert read_token(signer.token(cid="sb-cid", client_id="sb-other")).client_id == "sb-cid"


def test_the_key_id_listing_names_the_first_20_keys(signer: Signer) -> None:
    keys = [{"kid": f"k{i:02d}"} for i in range(25)]
    facts = read_token(signer.token(**cf_claims()), {"keys": keys})
    listing = ", ".join(f"k{i:02d}" for i in range(20))
    assert facts.signature_detail == (
        f"key id 'k1' is not in the issuer's token_keys (has: {listing})")


def test_the_key_id_listing_is_cut_at_200_characters(signer: Signer) -> None:
    keys = [{"kid": f"key-{i:02d}-" + "x" * 20} for i in range(20)]
    facts = read_token(signer.token(**cf_claims()), {"keys": keys})
    listing = ", ".join(k["kid"] for k in keys)
    assert facts.signature_detail == (
        f"key id 'k1' is not in the issuer's token_keys (has: {listing[:197]}...)")


@pytest.mark.parametrize(("kty", "shown"), [
    ("EC", "'EC'"),
    (None, "None"),
    ("E" * 60, "'" + "E" * 36 + "..."),
])
def test_a_key_that_is_not_rsa_names_its_type(signer: Signer, kty: str | None,
                                              shown: str) -> None:
    facts = read_token(signer.token(**cf_claims()), {"keys": [{"kid": "k1", "kty": kty}]})
    assert (facts.signature, facts.signature_detail) == (
        "failed", f"key 'k1' in token_keys is unusable: not an RSA key (kty {shown})")


def test_a_key_the_library_cannot_build_gives_its_reason(signer: Signer) -> None:
    key = {"kid": "k1", "kty": "RSA", "n": "!!", "e": "AQAB"}
    facts = read_token(signer.token(**cf_claims()), {"keys": [key]})
    assert (facts.signature, facts.signature_detail) == (
        "failed", "key 'k1' in token_keys is unusable: "
                  "Unable to construct key from JWK: n must be >= 3.")


def test_a_token_not_yet_valid_still_verifies(signer: Signer) -> None:
    """The signature check checks the signature only: times are the diagnosis' to judge."""
    later = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    facts = read_token(signer.token(**cf_claims(iat=later, nbf=later)), signer.jwks())
    assert (facts.signature, facts.signature_detail) == (
        "verified", "RS256 signature verified with key 'k1'")


def test_a_key_the_signature_check_cannot_use_fails_with_its_reason(signer: Signer) -> None:
    # read_token always hands over an RSA key built from the key set; the check still answers
    assert claims._check_signature(signer.token(), "k1", "not a key") == (
        "failed", "key 'k1' in token_keys is unusable: Could not parse the provided public key.")


def test_a_token_whose_payload_nests_too_deeply_says_so(
        signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some PyJWT releases let json's RecursionError through (2.15 wraps it)."""
    def too_deep(*_: object, **__: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(claims._jwt(), "decode", too_deep)  # PyJWT, imported when first used
    assert read_token(signer.token(scope="a.b")) == TokenFacts(
        format="malformed",
        problem="the token is not a readable JWT: its payload nests too deeply to be claims")


# --- mutation: claims ----------------------------------------------------------------------


def test_a_jwt_in_exchanges_har_is_its_unverified_header_and_claims(signer: Signer) -> None:
    token = signer.token(**cf_claims("it!b182722.NodeManager.read"))
    assert claims.header_and_claims(token) == {
        "jwt_header": {"alg": "RS256", "kid": "k1", "typ": "JWT"},
        "jwt_claims": cf_claims("it!b182722.NodeManager.read")}


@pytest.mark.parametrize("raw", ["opaque-token-0123456789", "a.b.c", ""])
def test_a_token_that_is_no_jwt_has_no_header_and_claims(raw: str) -> None:
    assert claims.header_and_claims(raw) is None


def nested(levels: int) -> object:
    """`"x"` inside `levels` lists."""
    value: object = "x"
    for _ in range(levels):
        value = [value]
    return value


def test_claims_are_shown_up_to_the_depth_of_an_answer_we_read(signer: Signer) -> None:
    # the shown object, its claims and 62 lists: 64 levels, as deep as MAX_JSON_DEPTH allows
    token = signer.token(deep=nested(62))
    assert claims.header_and_claims(token) == {
        "jwt_header": {"alg": "RS256", "kid": "k1", "typ": "JWT"},
        "jwt_claims": {"deep": nested(62)}}
    assert claims.header_and_claims(signer.token(deep=nested(63))) is None


def test_a_token_is_decoded_once_however_often_the_run_reads_it(
        real_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    header, decode = jwt.get_unverified_header, jwt.decode

    def counted_header(raw: str) -> dict[str, object]:
        calls.append("header")
        return header(raw)

    def counted_decode(raw: str, *args: object, **kwargs: object) -> object:
        calls.append("decode")
        return decode(raw, *args, **kwargs)

    monkeypatch.setattr(jwt, "get_unverified_header", counted_header)
    monkeypatch.setattr(jwt, "decode", counted_decode)
    assert looks_like_jwt(real_token)
    facts = read_token(real_token)
    shown = claims.header_and_claims(real_token)
    assert shown is not None
    assert facts.format == "jwt"
    assert shown["jwt_claims"]["cid"] == facts.client_id
    assert calls == ["header", "decode"]


def test_the_har_form_of_a_token_is_a_copy_the_caller_may_change(real_token: str) -> None:
    first = claims.header_and_claims(real_token)
    assert first is not None
    first["jwt_claims"]["cid"] = "changed"
    first["jwt_header"].clear()
    again = claims.header_and_claims(real_token)
    assert again is not None
    assert again["jwt_claims"]["cid"] != "changed"
    assert again["jwt_header"]
    assert read_token(real_token).client_id != "changed"


def test_a_landscape_of_a_thousand_tokens_decodes_each_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = [jwt.encode({"cid": f"client-{n}"}, "k" * 32, algorithm="HS256")
              for n in range(1000)]
    first = [read_token(t).client_id for t in tokens]  # while probing, profile by profile

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(jwt, "get_unverified_header", no_decode)
    monkeypatch.setattr(jwt, "decode", no_decode)
    shown = [claims.header_and_claims(t) for t in tokens]  # the reports, at the end
    assert [s["jwt_claims"]["cid"] for s in shown if s] == first == [
        f"client-{n}" for n in range(1000)]
