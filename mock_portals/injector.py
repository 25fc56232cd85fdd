"""ASGI middleware that applies latency, random 503s and maintenance to portal pages.

Admin (``/__admin``), static (``/static``) and ``/<app>/api/`` requests pass untouched:
tests and operators must be able to read state and switch faults while a portal is failing.
"""

from __future__ import annotations

import asyncio

from jinja2 import Environment
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import APPS
from .runtime import Runtime

__all__ = ["FaultInjector"]


class FaultInjector:
    """Wraps the whole app; every faultable request draws one number from the seeded stream.

    The draw happens on arrival, before the latency sleep, so the sequence of 503s depends
    only on the order requests arrive in, not on how their sleeps interleave.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime, env: Environment) -> None:
        self.app = app
        self.runtime = runtime
        self.env = env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        app_id = path.split("/", 2)[1]
        if app_id not in APPS:
            await self.app(scope, receive, send)
            return
        rt = self.runtime
        rt.stats.requests[app_id] += 1
        if path.startswith(f"/{app_id}/api/"):
            await self.app(scope, receive, send)
            return

        faults = rt.faults
        draw = rt.rng.random()
        if faults.latency_ms:
            rt.stats.hold(app_id)
            try:
                await asyncio.sleep(faults.latency_ms / 1000)
            finally:
                rt.stats.release(app_id)

        if faults.in_maintenance(app_id):
            rt.stats.maintenance_503[app_id] += 1
            response = self._page("shared/maintenance.html", app_id, {"Retry-After": "3600"})
        elif draw < faults.error_rate:
            rt.stats.errors_503[app_id] += 1
            response = self._page("shared/unavailable.html", app_id, {"Retry-After": "5"})
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _page(self, template: str, app_id: str, headers: dict[str, str]) -> HTMLResponse:
        html = self.env.get_template(template).render(app=app_id)
        return HTMLResponse(html, status_code=503, headers={**headers, "Cache-Control": "no-store"})
