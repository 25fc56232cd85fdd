"""What every mock web app shares: templates per layout, sign-in, sessions and the CAPTCHA.

Each app (acme, beacon, billing) subclasses :class:`Portal` and adds its own pages.
Sessions live in a cookie per app path, so one browser can be signed in to all three.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from .runtime import Runtime, Session

__all__ = ["Portal"]


class Portal(ABC):
    """Base class of one app mounted at ``/<app_id>``."""

    app_id: str = ""
    title: str = ""
    home: str = ""
    """Path a signed-in user lands on, relative to the mount (e.g. ``/search``)."""

    def __init__(self, runtime: Runtime, templates: Jinja2Templates) -> None:
        self.rt = runtime
        self.templates = templates

    # routing -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.index),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["GET", "POST"]),
            Route("/captcha", self.captcha, methods=["GET", "POST"]),
            *self.page_routes(),
        ]

    @abstractmethod
    def page_routes(self) -> list[BaseRoute]:
        """The app's own pages, besides sign-in, sign-out and the CAPTCHA."""

    @property
    def cookie(self) -> str:
        return f"{self.app_id}_session"

    @property
    def prefix(self) -> str:
        return f"/{self.app_id}"

    # rendering ---------------------------------------------------------------------

    def render(
        self, request: Request, template: str, /, *, status_code: int = 200, **context: Any
    ) -> Response:
        """Render ``<app>/<layout>/<template>.html``; the layout is read per request."""
        layout = self.rt.faults.layout
        context.setdefault("app", self.app_id)
        context.setdefault("portal_title", self.title)
        return self.templates.TemplateResponse(
            request, f"{self.app_id}/{layout}/{template}.html", context, status_code=status_code
        )

    def not_found(self, request: Request, what: str) -> Response:
        return self.templates.TemplateResponse(
            request, "shared/not_found.html", {"app": self.app_id, "what": what}, status_code=404
        )

    def redirect(self, path: str, **query: str) -> RedirectResponse:
        query = {k: v for k, v in query.items() if v}
        url = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        return RedirectResponse(url, status_code=303)

    def safe_next(self, value: str | None) -> str:
        """Only same-app paths, so ``next`` cannot send a browser elsewhere."""
        if value and value.startswith(self.prefix + "/") and not value.startswith("//"):
            return value
        return self.prefix + self.home

    # sessions ----------------------------------------------------------------------

    def guard(self, request: Request, *, stage: str = "ok", captcha_page: bool = False) -> Session | Response:
        """The session for this request, or the redirect a browser without one gets.

        Every guarded request counts towards ``expire_after``: request N+1 made with a
        session ends it and lands on the login page with the expiry message.
        """
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        token = request.cookies.get(self.cookie, "")
        session = self.rt.sessions.get(token)
        if session is None or session.app != self.app_id:
            return self.redirect("/login", next=here)
        session.requests += 1
        limit = self.rt.faults.expire_after
        if limit is not None and session.requests > limit:
            del self.rt.sessions[token]
            self.rt.stats.sessions_expired[self.app_id] += 1
            response = self.redirect("/login", expired="1", next=here)
            response.delete_cookie(self.cookie, path=self.prefix)
            return response
        if session.stage != stage:
            if session.stage == "otp":
                return self.redirect("/otp", next=here)
            return RedirectResponse(self.safe_next(request.query_params.get("next")), status_code=303)
        if stage == "ok" and not captcha_page and self.rt.faults.wants_captcha(self.app_id):
            return self.redirect("/captcha", next=here)
        return session

    def start_session(self, response: Response, username: str, stage: str = "ok") -> None:
        token = self.rt.new_session(self.app_id, username, stage)
        response.set_cookie(self.cookie, token, path=self.prefix, httponly=True, samesite="lax")

    # shared pages ------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return RedirectResponse(self.prefix + self.home, status_code=303)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.render(
                request,
                "login",
                next=request.query_params.get("next", ""),
                expired=request.query_params.get("expired") == "1",
            )
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        next_url = str(form.get("next", ""))
        outcome = self.rt.check_password(self.app_id, username, password)
        if outcome != "ok":
            return self.render(
                request, "login", status_code=200, next=next_url, username=username,
                error=outcome == "invalid", locked=outcome == "locked",
            )
        self.rt.stats.logins[self.app_id] += 1
        return self.after_password(request, username, next_url)

    def after_password(self, request: Request, username: str, next_url: str) -> Response:
        """Sign-in succeeded; beacon overrides this to ask for the one-time code."""
        response = RedirectResponse(self.safe_next(next_url), status_code=303)
        self.start_session(response, username)
        return response

    async def logout(self, request: Request) -> Response:
        self.rt.sessions.pop(request.cookies.get(self.cookie, ""), None)
        response = self.redirect("/login")
        response.delete_cookie(self.cookie, path=self.prefix)
        return response

    async def captcha(self, request: Request) -> Response:
        """An "I'm not a robot" challenge no answer passes: bots must route, not solve."""
        session = self.guard(request, captcha_page=True)
        if isinstance(session, Response):
            return session
        next_url = self.safe_next(request.query_params.get("next"))
        if not self.rt.faults.wants_captcha(self.app_id):
            return RedirectResponse(next_url, status_code=303)
        self.rt.stats.captchas[self.app_id] += 1
        return self.templates.TemplateResponse(
            request,
            "shared/captcha.html",
            {"app": self.app_id, "portal_title": self.title, "failed": request.method == "POST",
             "next": next_url},
        )
