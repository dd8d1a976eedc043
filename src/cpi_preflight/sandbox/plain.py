"""Answers that are not OData: HTML pages, empty bodies, plain text, a login page, the CF router.

Each is rendered from an entry of the behaviour table (`plain_answers`, `router`), so the
sandbox's hosts that are not the API (issue 16) answer exactly what the table says.
"""

from __future__ import annotations

from cpi_preflight.sandbox.behaviour import PlainAnswer, RouterAnswer
from cpi_preflight.sandbox.messages import HttpRequest, HttpResponse, html_page, text_response
from cpi_preflight.sandbox.ui import login_page


def plain_answer(answer: PlainAnswer, *headers: tuple[str, str]) -> HttpResponse:
    """One `plain_answers` entry as a response, with its WWW-Authenticate and `headers`."""
    extra = (*((("WWW-Authenticate", answer.www_authenticate),)
               if answer.www_authenticate else ()), *headers)
    if answer.body == "html":
        page = html_page(answer.status, answer.title, answer.message)
    elif answer.body == "login":
        page = login_page(answer.status)
    elif answer.body == "text":
        page = text_response(answer.status, answer.message + "\n")
    else:
        return HttpResponse(answer.status, b"", None, extra)
    return HttpResponse(page.status, page.body, page.content_type, extra)


def router_answer(answer: RouterAnswer, request: HttpRequest) -> HttpResponse:
    """The Cloud Foundry router's answer, naming the request's Host header as gorouter does."""
    body = answer.body.replace("{host}", request.header("host") or "")
    return HttpResponse(answer.status, body.encode(), answer.content_type,
                        tuple(answer.headers.items()))


class FixedAnswerApp:
    """A host that answers every request the same way: the runtime host's HTML 403, the
    Integration Suite host's login page, or the CF router's unknown route."""

    def __init__(self, answer: PlainAnswer | RouterAnswer) -> None:
        self.answer = answer

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer, whatever was asked."""
        if isinstance(self.answer, RouterAnswer):
            return router_answer(self.answer, request)
        return plain_answer(self.answer)
