"""The simulated Integration Suite UI host: everything redirects to an HTML login page.

What `/api/v1` returns on the real UI host is unconfirmed (no public source shows it); a
redirect to a login page is the behaviour of SAP's UI-session endpoints (figaf/integration-commons
src/main/java/com/figaf/integration/common/client/BaseClient.java reads such login pages).
"""

from __future__ import annotations

from urllib.parse import quote

from cpi_preflight.sandbox.messages import (
    HttpRequest,
    HttpResponse,
    Outcome,
    redirect,
    text_response,
)

_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="redirect" content="/login">
<title>Log On</title></head>
<body><form method="post" action="/login"><h1>Log On</h1>
<label>Email or User Name <input name="j_username"></label>
<label>Password <input name="j_password" type="password"></label>
<button type="submit">Continue</button></form></body></html>
"""


def login_page(status: int = 200) -> HttpResponse:
    """The HTML login form (also what the Integration Suite host answers with 401)."""
    return text_response(status, _LOGIN_PAGE, "text/html")


class UiApp:
    """A browser-facing host that knows no OAuth and no OData."""

    def handle(self, request: HttpRequest) -> Outcome:
        """Serve the login page at /login and redirect everything else to it."""
        if request.path == "/login" and request.method in ("GET", "HEAD"):
            return login_page()
        return redirect(f"/login?redirect={quote(request.target, safe='')}")
