"""Beacon Care: password, then a TOTP one-time code, then search by member id and date
of service, a results table, and a claim detail page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyotp
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .acme import claim_view
from .portal import Portal

__all__ = ["BeaconPortal", "parse_dos"]


def parse_dos(value: str) -> date | None:
    """ISO (what ``<input type=date>`` submits) or US ``MM/DD/YYYY``, as typed by people."""
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


class BeaconPortal(Portal):
    app_id = "beacon"
    title = "Beacon Care Provider Connect"
    home = "/search"

    def page_routes(self) -> list[BaseRoute]:
        return [
            Route("/otp", self.otp, methods=["GET", "POST"]),
            Route("/search", self.search),
            Route("/claims/{claim_id}", self.detail),
        ]

    def after_password(self, request: Request, username: str, next_url: str) -> Response:
        response = self.redirect("/otp", next=self.safe_next(next_url))
        self.start_session(response, username, stage="otp")
        return response

    async def otp(self, request: Request) -> Response:
        session = self.guard(request, stage="otp")
        if isinstance(session, Response):
            return session
        next_url = self.safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self.render(request, "otp", next=next_url)
        form = await request.form()
        code = str(form.get("otp", "")).strip()
        user = self.rt.find_user(self.app_id, session.username) or {}
        secret = str(user.get("totp_secret", ""))
        # valid_window=1 accepts the previous and next 30 s step: clocks drift, and a robot
        # that computed the code at the end of a step must not fail. Reuse is allowed on
        # purpose: a bot's parallel browser contexts sign in within the same step.
        if secret and code.isdigit() and len(code) == 6 and pyotp.TOTP(secret).verify(code, valid_window=1):
            session.stage = "ok"
            return RedirectResponse(next_url, status_code=303)
        return self.render(request, "otp", next=next_url, error=True)

    def matches(self, member_id: str, dos: date) -> list[dict[str, Any]]:
        wanted = member_id.strip().upper()
        return [
            claim
            for claim in self.rt.data["payers"]["beacon"]["claims"]
            if str(claim.get("member_id", "")).upper() == wanted
            and parse_dos(str(claim.get("date_of_service", ""))) == dos
        ]

    async def search(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        member_id = request.query_params.get("member_id", "").strip()
        dos_raw = request.query_params.get("dos", "").strip()
        context: dict[str, Any] = {"user": session.username, "member_id": member_id, "dos": dos_raw}
        if "member_id" in request.query_params or "dos" in request.query_params:
            dos = parse_dos(dos_raw)
            if not member_id or dos is None:
                context["error"] = True
            else:
                context["results"] = [claim_view(c) for c in self.matches(member_id, dos)]
                context["dos"] = dos.isoformat()
        return self.render(request, "search", **context)

    async def detail(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        wanted = request.path_params["claim_id"].upper()
        for claim in self.rt.data["payers"]["beacon"]["claims"]:
            if str(claim.get("claim_id", "")).upper() == wanted:
                return self.render(request, "detail", user=session.username, claim=claim_view(claim))
        return self.not_found(request, "claim")
