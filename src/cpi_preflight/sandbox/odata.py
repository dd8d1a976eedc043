"""OData v2 rendering: JSON (`{"d": ...}`, `/Date(ms)/`) and Atom XML, plus OData error bodies."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cpi_preflight.sandbox.messages import HttpResponse
from cpi_preflight.sandbox.records import SampleSet

JSON_TYPE = "application/json;charset=utf-8"
ATOM_TYPE = "application/atom+xml;type=feed;charset=utf-8"
ATOM_ENTRY_TYPE = "application/atom+xml;type=entry;charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"
SERVICE_TYPE = "application/atomsvc+xml;charset=utf-8"
_NS_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
_NS_D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>'


def _json(status: int, payload: object, content_type: str = JSON_TYPE) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload, separators=(",", ":")).encode(), content_type)


def error(status: int, code: str, message: str, *, as_json: bool,
          headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    """An OData error body in the negotiated format."""
    if as_json:
        body = _json(status, {"error": {"code": code, "message": {"lang": "en", "value": message}}})
        return HttpResponse(status, body.body, body.content_type, headers)
    xml = (f'{_XML_HEAD}<error xmlns="{_NS_M}"><code>{escape(code)}</code>'
           f'<message xml:lang="en">{escape(message)}</message></error>')
    return HttpResponse(status, xml.encode(), XML_TYPE, headers)


def _date_ms(value: str) -> int:
    moment = datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def _json_record(root: str, name: str, sample: SampleSet,
                 record: Mapping[str, Any]) -> dict[str, Any]:
    uri = f"{root}/{name}{sample.key_predicate(record)}"
    out: dict[str, Any] = {"__metadata": {"id": uri, "uri": uri, "type": sample.entity_type}}
    for field, value in record.items():
        is_date = field in sample.dates and isinstance(value, str)
        out[field] = f"/Date({_date_ms(value)})/" if is_date else value
    return out


def collection(root: str, name: str, sample: SampleSet, records: list[Mapping[str, Any]], *,
               as_json: bool, total: int | None) -> HttpResponse:
    """A collection of records; `total` adds the `$inlinecount` count."""
    if not as_json:
        return HttpResponse(200, _atom_feed(root, name, sample, records).encode(), ATOM_TYPE)
    payload: dict[str, Any] = {"results": [_json_record(root, name, sample, r) for r in records]}
    if total is not None:
        payload["__count"] = str(total)
    return _json(200, {"d": payload})


def entity(root: str, name: str, sample: SampleSet, record: Mapping[str, Any], *,
           as_json: bool) -> HttpResponse:
    """One entity (a path that names a single entity, such as JmsBrokers('Broker1'))."""
    if as_json:
        return _json(200, {"d": _json_record(root, name, sample, record)})
    updated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = _atom_entry(root, name, sample, record, updated).replace(
        "<entry>", f'<entry xml:base={quoteattr(root + "/")} xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:m="{_NS_M}" xmlns:d="{_NS_D}">', 1)
    return HttpResponse(200, (_XML_HEAD + entry).encode(), ATOM_ENTRY_TYPE)


def service_document(root: str, names: list[str], *, as_json: bool) -> HttpResponse:
    """The service root: the list of entity sets."""
    if as_json:
        return _json(200, {"d": {"EntitySets": names}})
    items = "".join(f'<collection href={quoteattr(n)}><atom:title>{escape(n)}</atom:title>'
                    "</collection>" for n in names)
    xml = (f'{_XML_HEAD}<service xml:base={quoteattr(root + "/")} '
           'xmlns="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom">'
           f"<workspace><atom:title>Default</atom:title>{items}</workspace></service>")
    return HttpResponse(200, xml.encode(), SERVICE_TYPE)


def _xml_value(field: str, value: Any, dates: tuple[str, ...]) -> str:
    tag = f"d:{field}"
    if value is None:
        return f'<{tag} m:null="true"/>'
    if isinstance(value, Mapping):
        inner = "".join(_xml_value(k, v, ()) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):  # a collection of primitives
        inner = "".join(f"<d:element>{escape(str(v))}</d:element>" for v in value)
        return f'<{tag} m:type="Collection(Edm.String)">{inner}</{tag}>'
    if field in dates:
        return f'<{tag} m:type="Edm.DateTime">{escape(str(value))}</{tag}>'
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{tag}>{escape(text)}</{tag}>"


def _atom_entry(root: str, name: str, sample: SampleSet, record: Mapping[str, Any],
                updated: str) -> str:
    uri = f"{root}/{name}{sample.key_predicate(record)}"
    props = "".join(_xml_value(k, v, sample.dates) for k, v in record.items())
    return (f"<entry><id>{escape(uri)}</id><title type=\"text\"/><updated>{updated}</updated>"
            f"<author><name/></author><category term={quoteattr(sample.entity_type)} "
            f'scheme="{_NS_D}/scheme"/><link href={quoteattr(uri)} rel="edit"/>'
            f'<content type="application/xml"><m:properties>{props}</m:properties></content>'
            "</entry>")


def _atom_feed(root: str, name: str, sample: SampleSet, records: list[Mapping[str, Any]]) -> str:
    updated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = "".join(_atom_entry(root, name, sample, r, updated) for r in records)
    return (f'{_XML_HEAD}<feed xml:base={quoteattr(root + "/")} '
            f'xmlns="http://www.w3.org/2005/Atom" xmlns:m="{_NS_M}" xmlns:d="{_NS_D}">'
            f"<id>{escape(root)}/{escape(name)}</id><title type=\"text\">{escape(name)}</title>"
            f"<updated>{updated}</updated><author><name/></author>"
            f'<link href={quoteattr(name)} rel="self" title={quoteattr(name)}/>{entries}</feed>')
