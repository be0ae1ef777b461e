"""The HTTP edge every service shares: request ids, domain errors, validation errors that never
echo input, and the /healthz, /readyz and /metrics routes."""

import gc
import hmac
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import pymongo

from crs_shared.config import ServiceSettings
from crs_shared.logging import get_logger
from crs_shared.metrics import HTTP_LATENCY
from crs_shared.mongo import UNAVAILABLE

REQUEST_ID_HEADER = "X-Request-ID"
log = get_logger(__name__)


class DomainError(Exception):
    """A refusal the caller can act on: `{"detail": message, "code": code}` with `status`."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers, self.extra = status, code, detail, headers, extra


class DomainErrorBody(BaseModel):
    """The body of a DomainError, for the routes' OpenAPI `responses`."""

    detail: str
    code: str


class ServiceUnavailable(DomainError):
    def __init__(self, detail: str = "The service is temporarily unavailable. Please try again in a few minutes."):
        super().__init__(503, "service_unavailable", detail, headers={"Retry-After": "30"})


# The operator routes (batch reports, failed emails) take `Authorization: Bearer <operator token>`.
operator_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                             description="The operator token of the settings.")


def operator_token_matches(credentials: HTTPAuthorizationCredentials | None, expected: str) -> bool:
    """Compared in constant time, so the answer's timing does not give the token away. An empty
    configured token matches nothing, in any environment: it would match a request without one."""
    if not expected.strip():
        return False
    given = credentials.credentials.encode() if credentials is not None else b""
    return hmac.compare_digest(given, expected.encode())


async def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)]
) -> None:
    """A route dependency: the request carries the operator token the app holds in
    `app.state.operator_token`, or it is refused with 401 invalid_operator_token."""
    if not operator_token_matches(credentials, request.app.state.operator_token):
        raise DomainError(401, "invalid_operator_token", "A valid operator token is required.",
                          headers={"WWW-Authenticate": "Bearer"})


class EndpointAnswers(APIRoute):
    """A route FastAPI declares and documents like any other, whose endpoint takes the request and
    returns the answer itself: nothing is resolved, parsed or validated for it on each request.
    That machinery is a third of the busiest read's time. For an endpoint whose
    only parameter is the request; it checks what it needs, and `openapi_extra` documents that."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        return self.endpoint


def _safe_request_id(value: str | None) -> str:
    if value and 0 < len(value) <= 128 and value.isprintable():
        return value
    return str(uuid.uuid4())


class RequestContextMiddleware:
    """Each request's id (its `X-Request-ID`, or a new one) is the correlation id of every log line
    while it is handled, and comes back in the answer's `X-Request-ID`; each request is timed, and
    logged: a refusal or error at INFO, an answered one at DEBUG only, since the gateway's access
    log has every request already, with the same id (a line of ours costs about a fifth of a fast
    read). All of its database work runs under `pymongo.timeout(budget)`: an election or an outage
    answers 503 within it, never a hang past the gateway's timeout. Plain ASGI rather than
    Starlette's BaseHTTPMiddleware, whose extra task and streamed response cost a noticeable share
    of a fast request."""

    def __init__(self, app: ASGIApp, service: str, database_budget_seconds: float):
        self.app = app
        self._service = service
        self._budget = database_budget_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _safe_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        started = time.perf_counter()
        status: int | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        # Bound and reset by token: `bound_contextvars` reads the whole context first.
        bound = structlog.contextvars.bind_contextvars(correlation_id=request_id)
        try:
            with pymongo.timeout(self._budget):
                await self.app(scope, receive, send_with_request_id)
        except Exception:
            # Not yet answered, it is answered 500 by the error handler outside; count it here.
            self._observe(scope, 500 if status is None else status, started)
            raise
        else:
            self._observe(scope, 500 if status is None else status, started)
        finally:
            structlog.contextvars.reset_contextvars(**bound)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        # Labelled by route template ("/candidates/{candidate_id}"), never the raw path, to bound the series.
        route = getattr(scope.get("route"), "path", None)
        elapsed = time.perf_counter() - started
        method = scope["method"]
        HTTP_LATENCY.labels(self._service, method, "unmatched" if route is None else route, status).observe(elapsed)
        (log.info if status >= 400 else log.debug)(
            "request", method=method, path=URL(scope=scope).path if route is None else route, status=status,
            ms=round(elapsed * 1000, 1))


async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "code": exc.code, **exc.extra}, status_code=exc.status, headers=exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's standard 422 body, less `input` and `ctx`: the input may be a password.
    errors = [{k: v for k, v in error.items() if k not in ("input", "ctx", "url")} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # FastAPI answers a body it cannot decode (not UTF-8) with a bare 400; it is a schema error like
    # any other JSON that cannot be parsed, so it gets the standard 422 body the contract promises.
    if isinstance(exc.__cause__, UnicodeDecodeError):
        error = {"type": "json_invalid", "loc": ["body"], "msg": "The body is not JSON text in UTF-8."}
        return JSONResponse({"detail": [error]}, status_code=422)
    return await http_exception_handler(request, exc)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unreachable, or not within the request's budget", error=repr(exc))
    return await _domain_error(request, ServiceUnavailable())


def install_edge(app: FastAPI, settings: ServiceSettings, service: str,
                 readiness: Callable[[], Awaitable[dict[str, bool]]],
                 why_not_ready: Callable[[], dict[str, str]] | None = None) -> None:
    """`readiness` gives each check's answer; `why_not_ready`, if given, says in plain words why a
    check that fails does (shown as `why` in the 503 body; never a secret)."""
    app.add_middleware(RequestContextMiddleware, service=service,
                       database_budget_seconds=settings.request_database_budget_seconds)
    app.add_exception_handler(DomainError, _domain_error)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "A dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        body: dict = {"ready": ready, "checks": checks}
        if not ready and why_not_ready is not None and (why := why_not_ready()):
            body["why"] = why
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def serve(app: FastAPI, settings: ServiceSettings, port: int) -> None:
    """Runs a service under uvicorn. On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets
    requests in progress finish (up to the shutdown grace), then runs the lifespan's shutdown:
    ServiceRuntime.close(). uvicorn then re-raises the signal to the handler it found; ours exits 0,
    because by then the process has stopped cleanly."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    # The modules, routes and schemas loaded so far live as long as the process: frozen, they are
    # left out of the collector's full passes, which under load would walk them all every few
    # seconds and pause every request in hand for about 50 ms each time.
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=port, access_log=False, log_config=None,
                timeout_graceful_shutdown=settings.shutdown_grace_seconds)
