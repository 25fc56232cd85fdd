"""``/__admin`` endpoints: switch faults, read counters, reset state, from any process."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import parse_faults
from .runtime import Runtime

__all__ = ["admin_routes"]


def admin_routes(rt: Runtime) -> list[BaseRoute]:
    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": rt.faults.spec})
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
            spec = body.get("spec", "") if isinstance(body, dict) else None
        else:
            spec = (await request.form()).get("spec", "")
        if not isinstance(spec, str):
            return JSONResponse({"error": "spec must be a string"}, status_code=400)
        try:
            rt.set_faults(parse_faults(spec))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"faults": rt.faults.spec})

    async def stats(request: Request) -> Response:
        return JSONResponse({**rt.stats.as_dict(), "faults": rt.faults.spec,
                             "active_sessions": len(rt.sessions)})

    async def reset(request: Request) -> Response:
        rt.reset()
        return JSONResponse({"reset": True, "faults": rt.faults.spec})

    return [
        Route("/faults", faults, methods=["GET", "POST"]),
        Route("/stats", stats),
        Route("/reset", reset, methods=["POST"]),
    ]
