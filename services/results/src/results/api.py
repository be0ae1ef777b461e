"""HTTP routes: parse, call a handler, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPBearer

from crs_shared.http import DomainError, DomainErrorBody, EndpointAnswers, require_operator
from crs_shared.tokens import InvalidToken
from results import handlers
from results.domain.errors import (
    BatchNotFound, ResultNotFound, ResultsRefusal, StatementUnavailable, VerificationFailed, VerificationSuperseded,
)
from results.schemas import BatchReport, MyResults, Rejection, Result, Verification

REFUSALS: dict[type[ResultsRefusal], tuple[int, str, str]] = {
    ResultNotFound: (404, "result_not_found", "No such result."),
    StatementUnavailable: (409, "statement_unavailable",
                           "A Statement of Results is available only once the result has been issued."),
    VerificationFailed: (404, "not_found", "No result matches this verification number and family name. "
                                           "Please check both and try again."),
    VerificationSuperseded: (410, "superseded", "This result has been replaced by a corrected result. Ask the "
                                                "candidate for their latest Statement of Results."),
    BatchNotFound: (404, "batch_not_found", "No part of this batch has arrived."),
}


def invalid_token() -> DomainError:
    return DomainError(401, "invalid_token", "Please log in again.", headers={"WWW-Authenticate": "Bearer"})


PRIVATE = {"Cache-Control": "private, no-store"}

router = APIRouter(prefix="/api/results")
ERRORS = {401: {"model": DomainErrorBody}, 404: {"model": DomainErrorBody}}


# Dependencies are `async def`: FastAPI runs a plain `def` one in a worker thread, a thread hop
# on every request.
async def dependencies(request: Request) -> handlers.Dependencies:
    return request.app.state.dependencies


Deps = Annotated[handlers.Dependencies, Depends(dependencies)]


class CandidateBearer(HTTPBearer):
    """The candidate of a valid, unrevoked access token; 401 without saying what was wrong. One
    dependency rather than a bearer scheme and a check depending on it: FastAPI resolves each
    dependency on every request, a noticeable share of the busiest read."""

    async def __call__(self, request: Request) -> str:
        credentials = await super().__call__(request)
        if credentials is None:
            raise invalid_token()
        deps = await dependencies(request)
        try:
            return (await deps.verifier.verify(credentials.credentials)).candidate_id
        except InvalidToken:
            raise invalid_token() from None


candidate_token = CandidateBearer(auto_error=False, scheme_name="CandidateToken",
                                  description="An access token from POST /api/auth/login.")
CurrentCandidate = Annotated[str, Depends(candidate_token)]


async def verification_rate_limit(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    retry_after = request.app.state.verify_limiter.retry_after(client)
    if retry_after:
        raise DomainError(429, "too_many_requests", "Too many verification requests. Please try again later.",
                          headers={"Retry-After": str(retry_after)}, retry_after_seconds=retry_after)


def refused(refusal: ResultsRefusal) -> DomainError:
    status_code, code, message = REFUSALS[type(refusal)]
    return DomainError(status_code, code, message)


# The busiest read on release day: served by `EndpointAnswers`, so the token is
# checked here, and the answer serialised here, once.
async def my_results(request: Request) -> Response:
    candidate_id = await candidate_token(request)
    results = await handlers.my_results(await dependencies(request), candidate_id)
    body = MyResults(candidate_id=candidate_id, results=[Result.of(doc) for doc in results]).model_dump_json()
    return Response(body, media_type="application/json", headers=PRIVATE)


router.add_api_route("/me", my_results, methods=["GET"], response_model=MyResults, responses=ERRORS,
                     openapi_extra={"security": [{candidate_token.scheme_name: []}]},
                     route_class_override=EndpointAnswers)


@router.get(
    "/me/{result_id}/statement.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The Statement of Results"},
               409: {"model": DomainErrorBody}, **ERRORS},
)
async def statement(
    deps: Deps,
    candidate_id: CurrentCandidate,
    result_id: Annotated[str, Path(max_length=100)],
) -> Response:
    try:
        result, pdf = await handlers.statement_pdf(deps, candidate_id, result_id)
    except ResultsRefusal as refusal:
        raise refused(refusal) from None
    filename = f"statement-of-results-{result['exam']}-{result['session']}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', **PRIVATE})


@router.get(
    "/verify/{verification_number}",
    response_model=Verification,
    responses={404: {"model": DomainErrorBody}, 410: {"model": DomainErrorBody}, 429: {"model": DomainErrorBody}},
    dependencies=[Depends(verification_rate_limit)],
)
async def verify(
    deps: Deps,
    verification_number: Annotated[str, Path(max_length=64)],
    family_name: Annotated[str, Query(max_length=200, description="The candidate's family name, in any case.")],
    response: Response,
) -> Verification:
    try:
        result = await handlers.verify(deps, verification_number, family_name)
    except ResultsRefusal as refusal:
        raise refused(refusal) from None
    response.headers["Cache-Control"] = "no-store"
    return Verification.of(result)


@router.get("/batches/{batch_id}", response_model=BatchReport, responses=ERRORS, dependencies=[Depends(require_operator)])
async def batch(deps: Deps, batch_id: Annotated[str, Path(max_length=100)]) -> BatchReport:
    try:
        report = await handlers.batch_report(deps, batch_id)
    except ResultsRefusal as refusal:
        raise refused(refusal) from None
    return BatchReport(
        batch_id=report.batch_id, board=report.board, exam=report.exam, session=report.session,
        release_at=report.release_at, parts_expected=report.parts_expected,
        parts_received=len(report.parts_received), parts_missing=report.missing_parts,
        complete=not report.missing_parts, records_received=report.records_received,
        results_stored=report.results_stored, results_corrected=report.results_corrected,
        results_rejected=len(report.rejections), rejections=[Rejection(**r) for r in report.rejections],
    )
