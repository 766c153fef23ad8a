"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from tokenward.service.deps import get_runtime
from tokenward.service.runtime import Runtime

__all__ = ["build_health_router"]

log = logging.getLogger("tokenward.service")


async def _database_ok(runtime: Runtime) -> bool:
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception:  # any driver error means "not ready"
        log.warning("readiness: database unreachable", extra={"event": "readyz_database"})
        return False
    return True


async def _redis_ok(runtime: Runtime) -> bool:
    if runtime.redis is None:
        return True
    try:
        if bool(await runtime.redis.ping()):
            return True
    except Exception:  # any client error or timeout means "not ready"
        pass
    log.warning("readiness: redis unreachable", extra={"event": "readyz_redis"})
    return False


def build_health_router() -> APIRouter:
    """Routes: ``GET /healthz``, ``GET /readyz``, ``GET /metrics``."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and (when configured) Redis are reachable")
    async def readyz(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
        checks = {"database": await _database_ok(runtime)}
        if runtime.redis is not None:
            checks["redis"] = await _redis_ok(runtime)
        ready = all(checks.values())
        body = {"status": "ok" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    # Load balancers often probe with HEAD (undocumented twins: one OpenAPI operation each).
    router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
    router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        body, content_type = request.app.state.metrics.render()
        return Response(body, media_type=content_type)

    return router
