"""The shared HTTP edge: request ids become the correlation id of every log line, and each request
is timed per route template, method and status; operator tokens are compared exactly."""

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

import pymongo
from pymongo.errors import ExecutionTimeout, NetworkTimeout, ServerSelectionTimeoutError, WTimeoutError

from crs_shared.config import ServiceSettings
from crs_shared.http import DomainError, EndpointAnswers, install_edge, operator_token_matches
from crs_shared.logging import configure_logging, current_correlation_id, get_logger
from tests.support.metrics import sample


BUDGET = 7.0
TIMEOUTS = {"execution": ExecutionTimeout("operation exceeded time limit", 50),
            "network": NetworkTimeout("timed out"), "selection": ServerSelectionTimeoutError("no primary"),
            "write-concern": WTimeoutError("waiting for replication timed out", 64)}


def app_with_routes(service: str) -> FastAPI:
    app = FastAPI()
    install_edge(app, ServiceSettings(request_database_budget_seconds=BUDGET), service, readiness=lambda: _ready())

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        get_logger().info("thing read", thing_id=thing_id)
        return {"correlation_id": current_correlation_id()}

    @app.get("/budget")
    async def budget() -> dict:
        return {"remaining": pymongo._csot.remaining()}

    @app.get("/database-timeout/{kind}")
    async def database_timeout(kind: str) -> dict:
        raise TIMEOUTS[kind]

    @app.get("/broken")
    async def broken() -> dict:
        raise RuntimeError("a bug")

    @app.get("/refused")
    async def refused() -> dict:
        raise DomainError(409, "refused", "No.")

    @app.get("/own-request-id")
    async def own_request_id() -> JSONResponse:
        return JSONResponse({}, headers={"X-Request-ID": "made-up-by-the-route"})

    @app.get("/streamed")
    async def streamed() -> StreamingResponse:
        async def body():
            yield current_correlation_id().encode()
        return StreamingResponse(body())

    return app


async def _ready() -> dict[str, bool]:
    return {"mongodb": True, "rabbitmq": False}


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def timed(service: str, route: str, status: str, method: str = "GET") -> float:
    return sample("http_request_duration_seconds_count", service=service, method=method, route=route, status=status)


async def test_the_request_id_is_the_correlation_id_of_the_handler_and_its_log_lines(capsys):
    configure_logging("edge", json=True, level="DEBUG")
    async with client(app_with_routes("edge")) as http:
        answer = await http.get("/things/42", headers={"X-Request-ID": "req-abc"})
        unnamed = await http.get("/things/43")
    assert answer.headers["X-Request-ID"] == "req-abc" and answer.json()["correlation_id"] == "req-abc"
    assert unnamed.headers["X-Request-ID"] == unnamed.json()["correlation_id"]  # one is made when none is given
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {line["correlation_id"] for line in lines if line.get("thing_id") == "42"} == {"req-abc"}
    requests = [line for line in lines if line["event"] == "request"]
    assert [line["correlation_id"] for line in requests] == ["req-abc", unnamed.headers["X-Request-ID"]]


async def test_every_answer_carries_the_request_id_once_and_an_unusable_one_is_replaced(capsys):
    configure_logging("edge", json=True, level="DEBUG")
    async with client(app_with_routes("edge")) as http:
        refused = await http.get("/refused", headers={"X-Request-ID": "req-409"})
        own = await http.get("/own-request-id", headers={"X-Request-ID": "req-own"})
        streamed = await http.get("/streamed", headers={"X-Request-ID": "req-streamed"})
        too_long = await http.get("/things/1", headers={"X-Request-ID": "x" * 129})
        unprintable = await http.get("/things/1", headers={"X-Request-ID": "a\tb"})
    assert refused.status_code == 409 and refused.headers.get_list("X-Request-ID") == ["req-409"]
    assert own.headers.get_list("X-Request-ID") == ["req-own"]
    assert streamed.text == "req-streamed"  # bound while the body is made, too
    for answer in (too_long, unprintable):
        assert str(uuid.UUID(answer.headers["X-Request-ID"])) == answer.json()["correlation_id"]
    requests = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    requests = [(r["correlation_id"], r["path"], r["status"]) for r in requests if r["event"] == "request"][:3]
    assert requests == [("req-409", "/refused", 409), ("req-own", "/own-request-id", 200),
                        ("req-streamed", "/streamed", 200)]


async def test_at_info_only_refused_and_failed_requests_are_logged_since_the_gateway_logs_them_all(capsys):
    configure_logging("edge", json=True, level="INFO")
    async with client(app_with_routes("edge")) as http:
        for path in ("/things/1", "/refused", "/broken", "/nowhere"):
            await http.get(path, headers={"X-Request-ID": f"req-{path[1:]}"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    requests = [(r["correlation_id"], r["status"]) for r in lines if r["event"] == "request"]
    assert requests == [("req-refused", 409), ("req-broken", 500), ("req-nowhere", 404)]
    assert any(r["event"] == "thing read" and r["correlation_id"] == "req-things/1" for r in lines)


async def test_requests_are_timed_per_route_template_method_and_status():
    service = f"edge{uuid.uuid4().hex[:6]}"
    configure_logging(service)
    async with client(app_with_routes(service)) as http:
        for n in range(3):
            await http.get(f"/things/{n}")
        assert (await http.get("/broken")).status_code == 500
        assert (await http.get("/nowhere")).status_code == 404
        assert (await http.get("/readyz")).status_code == 503
        exposed = (await http.get("/metrics")).text
    assert timed(service, "/things/{thing_id}", "200") == 3
    assert timed(service, "/broken", "500") == 1
    assert timed(service, "unmatched", "404") == 1
    assert timed(service, "/readyz", "503") == 1
    labels = f'method="GET",route="/things/{{thing_id}}",service="{service}",status="200"'
    assert f"http_request_duration_seconds_count{{{labels}}} 3.0" in exposed


async def test_a_route_answered_by_its_endpoint_is_documented_timed_and_refused_like_any_other():
    class Thing(BaseModel):
        name: str

    async def thing(request: Request) -> Response:
        if request.headers.get("X-Refuse"):
            raise DomainError(409, "refused", "No.")
        return Response(Thing(name=request.url.path).model_dump_json(), media_type="application/json")

    service = f"edge{uuid.uuid4().hex[:6]}"
    configure_logging(service)
    app = app_with_routes(service)
    app.router.add_api_route("/plain", thing, methods=["GET"], response_model=Thing,
                             openapi_extra={"security": [{"Scheme": []}]}, route_class_override=EndpointAnswers)
    async with client(app) as http:
        answered, refused = await http.get("/plain"), await http.get("/plain", headers={"X-Refuse": "1"})
        documented = (await http.get("/openapi.json")).json()["paths"]["/plain"]["get"]
    assert answered.json() == {"name": "/plain"} and "X-Request-ID" in answered.headers
    assert refused.status_code == 409 and refused.json() == {"detail": "No.", "code": "refused"}
    assert documented["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert documented["security"] == [{"Scheme": []}] and "parameters" not in documented
    assert timed(service, "/plain", "200") == 1 and timed(service, "/plain", "409") == 1


def test_only_the_exact_operator_token_matches():
    def bearer(token: str) -> HTTPAuthorizationCredentials:
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)

    assert operator_token_matches(bearer("s3cret-token"), "s3cret-token")
    assert not operator_token_matches(bearer("s3cret-toke"), "s3cret-token")
    assert not operator_token_matches(bearer(""), "s3cret-token")
    assert not operator_token_matches(None, "s3cret-token")


@pytest.mark.parametrize("configured", ["", " "])
def test_an_empty_configured_operator_token_matches_nothing(configured):
    for given in (None, HTTPAuthorizationCredentials(scheme="Bearer", credentials=configured)):
        assert not operator_token_matches(given, configured)


async def test_a_requests_database_work_runs_within_the_budget_of_the_settings():
    async with client(app_with_routes("svc-budget")) as http:
        remaining = (await http.get("/budget")).json()["remaining"]
    assert remaining is not None and BUDGET - 1 < remaining <= BUDGET


@pytest.mark.parametrize("kind", sorted(TIMEOUTS))
async def test_a_database_timeout_answers_503_with_retry_after_not_500(kind):
    async with client(app_with_routes("svc-timeout")) as http:
        answer = await http.get(f"/database-timeout/{kind}")
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "service_unavailable" and "try again" in answer.json()["detail"]
    assert int(answer.headers["Retry-After"]) > 0
