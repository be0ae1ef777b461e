"""The HTTP edge every service shares: request ids, domain errors, validation errors that never
echo input, and the /healthz, /readyz and /metrics routes."""

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware

from pymongo.errors import ConnectionFailure

from crs_shared.logging import get_logger
from crs_shared.metrics import HTTP_LATENCY

REQUEST_ID_HEADER = "X-Request-ID"
log = get_logger(__name__)


class DomainError(Exception):
    """A refusal the caller can act on: `{"detail": message, "code": code}` with `status`."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers, self.extra = status, code, detail, headers, extra


class ServiceUnavailable(DomainError):
    def __init__(self, detail: str = "The service is temporarily unavailable. Please try again in a few minutes."):
        super().__init__(503, "service_unavailable", detail, headers={"Retry-After": "30"})


def _safe_request_id(value: str | None) -> str:
    if value and 0 < len(value) <= 128 and value.isprintable():
        return value
    return str(uuid.uuid4())


class RequestContextMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, service: str):
        super().__init__(app)
        self._service = service

    async def dispatch(self, request: Request, call_next):
        request_id = _safe_request_id(request.headers.get(REQUEST_ID_HEADER))
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(correlation_id=request_id):
            response = await call_next(request)
            route = request.scope.get("route")
            elapsed = time.perf_counter() - started
            HTTP_LATENCY.labels(self._service, request.method, getattr(route, "path", "unmatched"), response.status_code).observe(elapsed)
            log.info("request", method=request.method, path=getattr(route, "path", request.url.path),
                     status=response.status_code, ms=round(elapsed * 1000, 1))
        response.headers[REQUEST_ID_HEADER] = request_id
        return response


async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "code": exc.code, **exc.extra}, status_code=exc.status, headers=exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's standard 422 body, less `input` and `ctx`: the input may be a password.
    errors = [{k: v for k, v in error.items() if k not in ("input", "ctx", "url")} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _database_unreachable(request: Request, exc: ConnectionFailure) -> JSONResponse:
    log.error("database unreachable", error=repr(exc))
    return await _domain_error(request, ServiceUnavailable())


def install_edge(app: FastAPI, service: str, readiness: Callable[[], Awaitable[dict[str, bool]]]) -> None:
    app.add_middleware(RequestContextMiddleware, service=service)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConnectionFailure, _database_unreachable)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "A dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
