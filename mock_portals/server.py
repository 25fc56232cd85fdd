"""The mock portals' public API: build the ASGI app, or run it in a background thread.

    with MockPortals(faults="latency_ms=300,seed=7") as portals:
        page.goto(portals.url + "/acme/login")
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .acme import AcmePortal
from .admin import admin_routes
from .beacon import BeaconPortal, parse_dos
from .billing import BillingPortal
from .faults import Faults, parse_faults
from .injector import FaultInjector
from .runtime import Runtime, load_data, normalize

__all__ = ["Faults", "MockPortals", "create_app", "parse_faults"]

_PACKAGE = resources.files("mock_portals")


def _money(value: Any) -> str:
    """``$1,234.50``; empty for a missing amount (a pended claim has no paid amount yet)."""
    if value is None or value == "":
        return ""
    return f"${Decimal(str(value)):,.2f}"


def _usdate(value: Any) -> str:
    """Beacon prints dates the American way, as many payer portals do."""
    parsed = parse_dos(str(value or ""))
    return parsed.strftime("%m/%d/%Y") if parsed else str(value or "")


class _CachedStatic(StaticFiles):
    """Static files a browser may reuse for an hour, as a real portal's CDN would allow.

    Without it Chromium revalidates the stylesheet on every page, doubling the requests.
    """

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(_PACKAGE / "templates"))
    templates.env.filters["money"] = _money
    templates.env.filters["usdate"] = _usdate
    return templates


def create_app(data: dict[str, Any], faults: Faults) -> Starlette:
    """The ASGI app serving ``/acme``, ``/beacon``, ``/billing`` and ``/__admin``.

    ``data`` becomes the live state (missing sections are added and billing saves write
    into it); pass ``load_data(data)`` to keep the original. The runtime, with sessions
    and counters, is ``app.state.runtime``.
    """
    runtime = Runtime(normalize(data), faults)
    templates = _templates()

    async def home(request: Request) -> Response:
        return templates.TemplateResponse(request, "shared/home.html", {"app": ""})

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return HTMLResponse(exc.detail, status_code=exc.status_code)
        app_id = request.url.path.split("/", 2)[1]
        return templates.TemplateResponse(
            request, "shared/not_found.html", {"app": app_id, "what": "page"}, status_code=404
        )

    routes = [
        Route("/", home),
        Mount("/__admin", routes=admin_routes(runtime)),
        Mount("/static", app=_CachedStatic(directory=str(_PACKAGE / "static")), name="static"),
    ]
    for portal_cls in (AcmePortal, BeaconPortal, BillingPortal):
        portal = portal_cls(runtime, templates)
        routes.append(Mount(portal.prefix, routes=portal.routes()))

    app = Starlette(
        routes=routes,
        middleware=[Middleware(FaultInjector, runtime=runtime, env=templates.env)],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.runtime = runtime
    return app


class MockPortals:
    """The portals served by uvicorn on 127.0.0.1 in a background thread.

    ``port=0`` picks a free port. The socket is bound here, before the thread starts, so
    there is no window in which another process can take the port.
    """

    def __init__(
        self,
        data: dict[str, Any] | Path | str | None = None,
        faults: str | Faults = "",
        port: int = 0,
        host: str = "127.0.0.1",
        log_config: dict[str, Any] | None = LOGGING_CONFIG,
    ) -> None:
        """``log_config`` is uvicorn's logging dictConfig; ``None`` leaves the ``uvicorn`` loggers'
        handlers to the caller (``python -m mock_portals`` gives them a sink that never blocks)."""
        self._log_config = log_config
        self._faults = parse_faults(faults) if isinstance(faults, str) else faults
        self.app = create_app(load_data(data), self._faults)
        self.runtime: Runtime = self.app.state.runtime
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "MockPortals":
        """Serve, and return once ``/__admin/stats`` answers."""
        if self._thread is not None:
            return self
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
        # and without it every response stalls ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", log_config=self._log_config,
            timeout_graceful_shutdown=3, timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mock-portals", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/__admin/stats", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mock portals did not start on {self.url}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "MockPortals":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # state -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.runtime.faults

    def set_faults(self, spec: str | Faults) -> Faults:
        """Switch faults now (the random stream restarts from the new seed)."""
        faults = parse_faults(spec) if isinstance(spec, str) else spec
        self.runtime.set_faults(faults)
        return faults

    def reset(self) -> None:
        """Initial data, no sessions or lockouts, zero counters; faults are kept."""
        self.runtime.reset()

    @property
    def state(self) -> dict[str, Any]:
        """The live data dict (billing saves show up here)."""
        return self.runtime.data

    @property
    def request_count(self) -> int:
        """Requests to ``/acme``, ``/beacon`` and ``/billing`` so far (admin and static excluded)."""
        return self.runtime.request_count

    @property
    def stats(self) -> dict[str, Any]:
        return self.runtime.stats.as_dict()
