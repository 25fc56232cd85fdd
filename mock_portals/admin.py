"""``/__admin`` endpoints: switch faults, read counters, reset state, from any process."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import parse_faults
from .runtime import Runtime

__all__ = ["APPEAL_WORDS", "admin_routes"]

# Each portal's status word for an appeal's result: won is paid, upheld is still denied.
APPEAL_WORDS = {"acme": {"won": "Paid", "upheld": "Denied"},
                "beacon": {"won": "FINALIZED - PAID", "upheld": "DENIED"}}


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

    async def appeal_decision(request: Request) -> Response:
        """The payer decides an appeal: ``won`` pays the claim in full, ``upheld`` keeps it denied."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        payer, decision, day = body.get("payer"), body.get("decision"), body.get("date", "")
        words = APPEAL_WORDS.get(str(payer))
        if words is None or decision not in ("won", "upheld") or not isinstance(day, str):
            return JSONResponse({"error": "expected payer (acme, beacon), decision (won, upheld), date"},
                                status_code=400)
        claim = next((c for c in rt.data["payers"][payer]["claims"] if c["claim_id"] == body.get("claim_id")), None)
        if claim is None:
            return JSONResponse({"error": "no such claim"}, status_code=404)
        if decision == "won":
            claim.update(status=words["won"], status_date=day, paid=claim["billed"], paid_date=day, carc=[],
                         remarks="Appeal decision: denial overturned.")
        else:
            claim.update(status=words["upheld"], status_date=day, remarks="Appeal decision: denial upheld.")
        return JSONResponse({"claim_id": claim["claim_id"], "status": claim["status"]})

    async def reset(request: Request) -> Response:
        rt.reset()
        return JSONResponse({"reset": True, "faults": rt.faults.spec})

    return [
        Route("/faults", faults, methods=["GET", "POST"]),
        Route("/stats", stats),
        Route("/reset", reset, methods=["POST"]),
        Route("/appeal-decision", appeal_decision, methods=["POST"]),
    ]
