"""Acme Health Plan: claim search by claim number, then a claim detail page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .carc import carc_text
from .portal import Portal

__all__ = ["AcmePortal", "claim_view"]


def claim_view(claim: dict[str, Any]) -> dict[str, Any]:
    """The claim as the detail templates need it: CARC codes paired with their text."""
    view = dict(claim)
    view["carc_items"] = [(code, carc_text(code)) for code in claim.get("carc") or []]
    return view


class AcmePortal(Portal):
    app_id = "acme"
    title = "Acme Health Plan Provider Portal"
    home = "/search"

    def page_routes(self) -> list[BaseRoute]:
        return [
            Route("/search", self.search),
            Route("/claims/{claim_id}", self.detail),
        ]

    def find(self, claim_id: str) -> dict[str, Any] | None:
        wanted = claim_id.strip().upper()
        for claim in self.rt.data["payers"]["acme"]["claims"]:
            if str(claim.get("claim_id", "")).upper() == wanted:
                return claim
        return None

    async def search(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        claim_number = request.query_params.get("claim_number", "").strip()
        if claim_number:
            claim = self.find(claim_number)
            if claim is not None:
                return self.redirect(f"/claims/{claim['claim_id']}")
        return self.render(
            request, "search", user=session.username, claim_number=claim_number,
            not_found=bool(claim_number),
        )

    async def detail(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        claim = self.find(request.path_params["claim_id"])
        if claim is None:
            return self.not_found(request, "claim")
        return self.render(request, "detail", user=session.username, claim=claim_view(claim))
