"""The bare-client floor: the probe's exchanges done by a minimal httpx + PyJWT script.

    python bench/floor.py TENANTS.json CA.pem

Per tenant (a line of `python -m cpi_preflight.sandbox --json` output): POST the token request
and GET /token_keys side by side, verify the JWT's signature with the key set, then GET every
endpoint of bench/run.py side by side (the probe's URLs). One client per host with one
connection (HTTP/1.1), all tenants at once. No retries, no reports, no masking: what any
client must do at the least. Prints {"connections": N, "network_s": S}: the TCP connections it
opened and the seconds its exchanges took (start-up excluded).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

# The requests the probe sends for bench/run.py's ENDPOINTS (data/catalog.yaml).
TOP = "?%24top=1"
REQUESTS = ["/MessageProcessingLogs" + TOP, "/MessageProcessingLogs/$count",
            "/IntegrationRuntimeArtifacts" + TOP, "/IntegrationPackages" + TOP,
            "/ValueMappingDesigntimeArtifacts" + TOP, "/UserCredentials",
            "/KeystoreEntries?keystoreName=system", "/DataStores", "/NumberRanges",
            "/AccessPolicies" + TOP]
opened = 0


async def count(name: str, info: dict[str, Any]) -> None:
    global opened
    if name == "connection.connect_tcp.complete":
        opened += 1


def one_connection(context: ssl.SSLContext) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=context, limits=httpx.Limits(max_connections=1),
                             timeout=60)


async def tenant(info: dict[str, str], context: ssl.SSLContext) -> None:
    trace = {"trace": count}
    token_url = httpx.URL(info["token_url"])
    async with one_connection(context) as xsuaa, one_connection(context) as api:
        keys = xsuaa.get(str(token_url.copy_with(path="/token_keys", query=None)),
                         extensions=trace)
        token = xsuaa.post(str(token_url), data={"grant_type": "client_credentials"},
                           auth=(info["client_id"], info["client_secret"]), extensions=trace)
        answers = await asyncio.gather(token, keys)
        raw = answers[0].json()["access_token"]
        kid = jwt.get_unverified_header(raw).get("kid")
        found = [k for k in answers[1].json()["keys"] if k.get("kid") == kid]
        jwt.decode(raw, key=jwt.PyJWK(found[0]).key, algorithms=["RS256"],
                   options={"verify_aud": False})
        headers = {"Authorization": f"Bearer {raw}", "Accept": "application/json"}
        calls = (api.get(f"{info['api_url']}/api/v1{path}", headers=headers, extensions=trace)
                 for path in REQUESTS)
        for answer in await asyncio.gather(*calls):
            assert answer.status_code == 200, (answer.url, answer.status_code)
            if "json" in answer.headers.get("content-type", ""):
                answer.json()


async def main(tenants: list[dict[str, str]], ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    await asyncio.gather(*(tenant(t, context) for t in tenants))


if __name__ == "__main__":
    lines = Path(sys.argv[1]).read_text().splitlines()
    began = time.perf_counter()
    asyncio.run(main([json.loads(line) for line in lines if line.strip()], Path(sys.argv[2])))
    print(json.dumps({"connections": opened, "network_s": time.perf_counter() - began}))
