"""Plain request and response values passed between the HTTP plumbing and the simulated hosts."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class HttpRequest:
    """One parsed HTTP request as a simulated host sees it."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    peer_cert: bytes | None = None
    base_url: str = ""

    @property
    def path(self) -> str:
        """The path without the query string."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (first value wins), percent- and plus-decoded."""
        return dict(reversed(parse_qsl(urlsplit(self.target).query, keep_blank_values=True)))

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded fields (first value wins)."""
        text = self.body.decode("utf-8", errors="replace")
        return dict(reversed(parse_qsl(text, keep_blank_values=True)))


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response; the plumbing adds Content-Length and Date."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


class Reset:
    """Marker: drop the TCP connection abruptly (RST) instead of answering."""

    def __repr__(self) -> str:
        return "RESET"


RESET: Final = Reset()
Outcome = HttpResponse | Reset


def json_response(status: int, payload: object, *headers: tuple[str, str]) -> HttpResponse:
    """A JSON response with the given status and extra headers."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpResponse(status, body, "application/json;charset=UTF-8", tuple(headers))


def text_response(status: int, text: str, content_type: str = "text/plain") -> HttpResponse:
    """A UTF-8 text response."""
    return HttpResponse(status, text.encode(), f"{content_type};charset=UTF-8")


def html_page(status: int, title: str, message: str) -> HttpResponse:
    """A small HTML page, as web servers and login screens answer."""
    safe_title, safe_message = html.escape(title), html.escape(message)
    text = (f"<!DOCTYPE html><html><head><title>{safe_title}</title></head>"
            f"<body><h1>{safe_title}</h1><p>{safe_message}</p></body></html>")
    return text_response(status, text, "text/html")


def not_found_page(path: str) -> HttpResponse:
    """The HTML 404 a host answers for a path it does not serve."""
    return html_page(404, "404 Not Found", f"The requested resource {path} is not available.")


def redirect(location: str) -> HttpResponse:
    """A 302 redirect with a short HTML body."""
    page = html_page(302, "302 Found", f"Redirecting to {location}")
    return HttpResponse(302, page.body, page.content_type, (("Location", location),))
