"""The billing system's work queue: a paged table and a per-claim status/note form.

Saves persist into the live data (``state["billing"]["queue"]``) with a history entry,
and ``GET /billing/api/queue`` returns the queue as JSON for tests.

The form carries a hidden anti-forgery field (``csrf_token``), as most web apps' forms do: its
value is tied to the session, so a save posted without it, or with one from another session
(a form read before the robot signed in again), is refused with a 403 page saying so, and
nothing is stored. A browser filling the form sends it without being told; a robot posting
the form itself must read it from the form first.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .portal import Portal

__all__ = ["BILLING_STATUSES", "CSRF_FIELD", "PAGE_SIZE", "BillingPortal"]

BILLING_STATUSES: tuple[str, ...] = (
    "Submitted",
    "Ready to submit",
    "Accepted",
    "Pending",
    "Paid",
    "Denied",
    "Rejected",
    "Info requested",
    "Ready to rebill",
    "Appeal in progress",
    "Appeal submitted",
    "Write-off review",
    "Closed",
)
"""The work-queue statuses offered in the edit form's dropdown, in display order."""

PAGE_SIZE = 25

CSRF_FIELD = "csrf_token"
"""The edit form's hidden anti-forgery field."""

CSRF_REFUSED = ("This form has expired or did not come from this page: its security token is missing or "
                "out of date. Reload the claim and save again.")


class BillingPortal(Portal):
    app_id = "billing"
    title = "Riverbend Billing Work Queue"
    home = "/queue"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csrf_key = secrets.token_bytes(32)

    def page_routes(self) -> list[BaseRoute]:
        return [
            Route("/queue", self.queue),
            Route("/claims/{claim_id}", self.edit, methods=["GET", "POST"]),
            Route("/api/queue", self.api_queue),
        ]

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.rt.data["billing"]["queue"]

    def find(self, claim_id: str) -> dict[str, Any] | None:
        wanted = claim_id.strip().upper()
        for entry in self.entries:
            if str(entry.get("claim_id", "")).upper() == wanted:
                return entry
        return None

    async def queue(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        q = request.query_params.get("q", "").strip()
        rows = [e for e in self.entries if q.upper() in str(e.get("claim_id", "")).upper()]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 1
        page = min(max(page, 1), pages)
        start = (page - 1) * PAGE_SIZE
        return self.render(
            request, "queue", user=session.username, rows=rows[start:start + PAGE_SIZE],
            q=q, page=page, pages=pages, total=len(rows),
        )

    async def edit(self, request: Request) -> Response:
        session = self.guard(request)
        if isinstance(session, Response):
            return session
        entry = self.find(request.path_params["claim_id"])
        if entry is None:
            return self.not_found(request, "claim")
        context: dict[str, Any] = {"user": session.username, "entry": entry,
                                   "statuses": self.status_options(entry), "csrf": self.csrf_token(request)}
        if request.method == "GET":
            context["saved"] = request.query_params.get("saved") == "1"
            return self.render(request, "edit", **context)

        form = await request.form()
        if not hmac.compare_digest(str(form.get(CSRF_FIELD, "")), context["csrf"]):
            self.rt.stats.csrf_refused[self.app_id] += 1
            return self.render(request, "edit", status_code=403, error=CSRF_REFUSED, **context)
        status = str(form.get("status", ""))
        note = str(form.get("note", ""))
        if status not in BILLING_STATUSES:
            return self.render(request, "edit", status_code=400, error=f"Unknown status: {status}", **context)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        entry.setdefault("history", []).append(
            {"at": now, "user": session.username, "from_status": entry.get("status", ""),
             "status": status, "note": note}
        )
        entry["status"] = status
        entry["note"] = note
        entry["updated_at"] = now
        self.rt.stats.saves[self.app_id] += 1
        if request.headers.get("sec-fetch-mode") == "navigate":  # a browser tab submitted the form
            self.rt.stats.saves_from_tab[self.app_id] += 1
        if self.rt.faults.after_save == "expire":
            self.rt.sessions.pop(request.cookies.get(self.cookie, ""), None)
            self.rt.stats.sessions_expired[self.app_id] += 1
        # Post/redirect/get: a reload of the confirmation page does not save twice.
        return self.redirect(f"/claims/{entry['claim_id']}", saved="1")

    def csrf_token(self, request: Request) -> str:
        """The anti-forgery token of the request's session (a keyed hash of the session cookie)."""
        session = request.cookies.get(self.cookie, "").encode()
        return hmac.new(self._csrf_key, session, hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def status_options(entry: dict[str, Any]) -> list[str]:
        current = str(entry.get("status", ""))
        options = list(BILLING_STATUSES)
        if current and current not in options:
            options.insert(0, current)
        return options

    async def api_queue(self, request: Request) -> Response:
        """The whole queue as JSON, without a session: it exists for tests."""
        return JSONResponse({"queue": self.entries})
