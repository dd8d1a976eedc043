"""Edge Integration Cell (issue 16, item 8): refused at load with what its local API is like, so
that its answers are never read as token or role problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpi_preflight.errors import ProfileError

from .conftest import cf_data, parse, write_json

EDGE = ("Edge Integration Cell's local OData API (https://<virtual host>/local/api/v1) takes "
        "Basic authentication with the service key's clientid and clientsecret, or the key's "
        "client certificate, instead of a token, and offers only MessageProcessingLogs, "
        "MessageStoreEntries, DataStores, Variables, JmsBrokers, MessagingQueues: other entity "
        "sets answer 403 (NumberRanges is not offered), and calls without /local answer 401 even "
        "with valid credentials. The same service key's client works against the cloud tenant "
        "(environment: cf with the key's url and tokenurl), where cpi-preflight can check its "
        "roles")


def test_environment_edge_is_refused_with_what_its_api_is_like() -> None:
    with pytest.raises(ProfileError) as caught:
        parse(cf_data(environment="edge"))
    assert str(caught.value) == (
        f"profiles/t.yaml: environment: 'edge' is not supported yet. {EDGE}")


@pytest.mark.parametrize("api_url", [
    "https://edge-runtime.acme.com/local/api/v1", "https://edge-runtime.acme.com/local/",
])
def test_an_api_url_under_local_is_refused_before_any_call(api_url: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(cf_data(api_url=api_url))
    assert str(caught.value) == (
        f"profiles/t.yaml: api_url: '{api_url}' is Edge Integration Cell's local API (/local), "
        f"which cpi-preflight does not check yet. {EDGE}")


def test_a_service_key_url_under_local_names_the_service_key(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "profiles"
    folder.mkdir()
    write_json(folder / "key.json", {"oauth": {
        "clientid": "sb-1!b2|it!b3", "clientsecret": "s$e<c>r&e't\"",
        "url": "https://edge.acme.com/local",
        "tokenurl": "https://sub.authentication.eu10.hana.ondemand.com/oauth/token"}})
    with pytest.raises(ProfileError) as caught:
        parse({"environment": "cf", "service_key": "key.json",
               "required_roles": ["MonitoringDataRead"]}, path=folder / "t.yaml")
    assert str(caught.value).startswith(
        "profiles/t.yaml: service_key (url): 'https://edge.acme.com/local' is Edge Integration "
        "Cell's local API (/local)")


def test_a_host_named_local_is_no_edge_path() -> None:
    assert parse(cf_data(api_url="https://local.example.com/api/v1")).api_url == (
        "https://local.example.com")
