"""Schemathesis against each service's own OpenAPI, the services running as real processes on the
test's SecantusDB, RabbitMQ vhost and SMTP server: whatever it sends, valid or not, no answer is a
5xx, every status is documented, every body and header matches the schema, and invalid input is
refused. Stateless (every operation on its own, with valid and with invalid input) and stateful
(chains of calls along OpenAPI links: declared by auth, login -> logout with the token; inferred by
schemathesis for results, a result id from /me into the statement route)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.direct_services import OPERATOR_TOKEN
from tests.support.system import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]
FUZZ_SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
OPERATOR_PATHS = ("/api/results/batches/", "/api/notifier/", "/api/registration/holds/")
CANDIDATE_PATHS = ("/api/results/",)


@pytest.fixture(scope="module", params=SERVICES)
def api_schema(request, fuzz_target):
    return schemathesis.openapi.from_url(f"{fuzz_target.services.url(request.param)}/openapi.json")


def credentials(path: str, candidate_token: str, sent: dict | None) -> dict[str, str]:
    """A valid token for the routes that need one, unless schemathesis sends an Authorization header
    of its own (fuzzed, or from a link). Auth's logout gets none: it would revoke the candidate's token."""
    if any(name.lower() == "authorization" for name in sent or {}):
        return {}
    if path.startswith(OPERATOR_PATHS):
        return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    if path.startswith(CANDIDATE_PATHS):
        return {"Authorization": f"Bearer {candidate_token}"}
    return {}


def operations(schema, mode: GenerationMode) -> list:
    """Every operation; for invalid input only those whose input can be invalid (a bare GET has none,
    and logout's only input is an optional header, which any string fits)."""
    every = [result.ok() for result in schema.get_all_operations()]
    if mode is GenerationMode.POSITIVE:
        return every
    return [op for op in every if (op.path_parameters or op.query or op.cookies or op.body)]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_answer_is_a_server_error_or_breaks_the_schema(api_schema, fuzz_target, mode):
    token = fuzz_target.candidate_token
    for operation in operations(api_schema, mode):
        sent = []

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy(mode))
        def call(case):
            sent.append(case)
            case.call_and_validate(headers=credentials(case.path, token, case.headers), checks=CHECKS, timeout=30)

        call()
        assert sent, f"no request generated for {operation.label}"


@pytest.mark.parametrize("api_schema", ["auth", "results"], indirect=True)
def test_sequences_of_calls_keep_every_promise(api_schema, fuzz_target):
    """Only auth (log in, then log out with the token) and results (a result id from /me into its
    statement) have operations that lead to one another; registration and notifier have none."""
    token = fuzz_target.candidate_token

    class Machine(api_schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": credentials(case.path, token, case.headers), "timeout": 30}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Machine.run(settings=settings(FUZZ_SETTINGS, max_examples=15, stateful_step_count=6))
