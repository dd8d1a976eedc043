"""The RS256 key an XSUAA zone signs tokens with, its JWKS entry, and token verification."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cpi_preflight.sandbox.tls import new_rsa_key


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenSigner:
    """One zone's signing key; `kid` looks like XSUAA's (`default-jwt-key-<hex>`)."""

    key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def create(cls) -> TokenSigner:
        """A fresh RSA 2048 signing key (the slow part of starting a CF sandbox)."""
        return cls(new_rsa_key(), f"default-jwt-key-{secrets.token_hex(5)}")

    def jwk(self) -> dict[str, str]:
        """The key as `GET /token_keys` lists it, with SAP's extra PEM `value`."""
        public = self.key.public_key()
        numbers = public.public_numbers()
        pem = public.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"kty": "RSA", "e": _b64_uint(numbers.e), "use": "sig", "kid": self.kid,
                "alg": "RS256", "value": pem.decode().strip(), "n": _b64_uint(numbers.n)}

    def sign(self, claims: dict[str, Any], jku: str | None) -> str:
        """An RS256 JWT with XSUAA's header fields (alg, jku, kid, typ; no jku when None)."""
        headers = {"jku": jku, "kid": self.kid, "typ": "JWT"} if jku is not None else {
            "kid": self.kid, "typ": "JWT"}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def verify(self, token: str, now: float) -> dict[str, Any]:
        """Claims of a token this key signed and still valid at `now` (the tenant's clock);
        raises `jwt.InvalidTokenError` (`jwt.ExpiredSignatureError` when expired) otherwise."""
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self.kid:
            raise jwt.InvalidTokenError("unknown signing key")
        claims: dict[str, Any] = jwt.decode(
            token, self.key.public_key(), algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                     "require": ["exp", "iat", "zid", "scope"]},
        )
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            raise jwt.ExpiredSignatureError("the token has expired by the tenant's clock")
        return claims
