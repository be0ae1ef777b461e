"""The pydantic model of every event in contract section 4. Consumers ignore unknown fields;
a breaking change is a new `event_version`."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from crs_shared.clock import utc_iso

UtcDatetime = Annotated[AwareDatetime, PlainSerializer(utc_iso, return_type=str)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CandidateId = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{3,9}$")]
SecretNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
Session = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
BatchId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Language = Literal["en", "zh-TW"]
PART_MAX_RECORDS = 1000


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    EVENT_TYPE: ClassVar[str] = ""
    ROUTING_KEY: ClassVar[str] = ""
    EVENT_VERSION: ClassVar[int] = 1
    # Deliveries a consumer of this event holds (and handles) at once; None: AMQP_PREFETCH.
    CONSUMER_PREFETCH: ClassVar[int | None] = None


class BatchPart(EventPayload):
    # A part is up to 1,000 records written in one transaction: handled one at a time, parts do
    # not fight over the same collections (five at once on SecantusDB take 5 to 30 s where one
    # after the other take 5), and a consumer holds one part in memory, not 32.
    CONSUMER_PREFETCH = 1

    board: Name
    batch_id: BatchId
    part: int = Field(ge=1)
    parts: int = Field(ge=1)

    @property
    def key(self) -> str:
        """What names this part among every board's batches: the id of its record in a consumer."""
        return f"{self.board}:{self.batch_id}:{self.part}"


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    candidate_id: CandidateId
    secret_number: SecretNumber
    given_name: Name
    family_name: Name
    exam: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    session: Session
    centre: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class EntriesPublished(BatchPart):
    EVENT_TYPE = "EntriesPublished"
    ROUTING_KEY = "entries.published"
    entries: list[Entry] = Field(max_length=PART_MAX_RECORDS)


class CandidateRegistered(EventPayload):
    EVENT_TYPE = "CandidateRegistered"
    ROUTING_KEY = "candidate.registered"
    candidate_id: CandidateId
    email: str
    given_name: str
    family_name: str
    language: Language = "en"
    password_hash: str = Field(repr=False)
    registered_at: UtcDatetime


class ResultRecord(BaseModel):
    """A record as the board sends it; the results service validates it against the exams table."""

    model_config = ConfigDict(extra="ignore")
    candidate_id: str
    given_name: str = ""
    family_name: str = ""
    overall_score: int | None = None
    grade: str | None = None
    cefr_level: str | None = None
    skills: dict[str, int | None] = Field(default_factory=dict)
    status: str = "issued"


class ResultsPublished(BatchPart):
    EVENT_TYPE = "ResultsPublished"
    ROUTING_KEY = "results.published"
    exam: str
    session: Session
    release_at: UtcDatetime | None = None
    # Each record is read on its own (crs_shared.domain.exams.check_part), so one malformed record
    # is refused alone instead of failing its whole part.
    results: list[Annotated[ResultRecord | Any, Field(union_mode="left_to_right")]] = Field(max_length=PART_MAX_RECORDS)


class LoginLocked(EventPayload):
    EVENT_TYPE = "LoginLocked"
    ROUTING_KEY = "login.locked"
    candidate_id: CandidateId
    locked_until: UtcDatetime
    failed_attempts: int


class PasswordResetRequested(EventPayload):
    EVENT_TYPE = "PasswordResetRequested"
    ROUTING_KEY = "password.reset_requested"
    candidate_id: CandidateId
    reset_url: str = Field(repr=False)
    expires_at: UtcDatetime


class PasswordChanged(EventPayload):
    EVENT_TYPE = "PasswordChanged"
    ROUTING_KEY = "password.changed"
    candidate_id: CandidateId
    changed_at: UtcDatetime


ALL_EVENTS: dict[str, type[EventPayload]] = {
    model.EVENT_TYPE: model
    for model in (EntriesPublished, CandidateRegistered, ResultsPublished, LoginLocked, PasswordResetRequested, PasswordChanged)
}


class AccessRevoked(EventPayload):
    """Internal to this system (an addition to contract section 4): auth revoked access tokens.

    `token_id` set: that one token (log-out). `token_id` null: every token of the candidate issued
    before `not_before` (password reset). Services that accept tokens keep these until `expires_at`."""

    EVENT_TYPE = "AccessRevoked"
    ROUTING_KEY = "access.revoked"
    candidate_id: CandidateId
    token_id: str | None = None
    not_before: UtcDatetime
    expires_at: UtcDatetime


ALL_EVENTS[AccessRevoked.EVENT_TYPE] = AccessRevoked


class ReleasedResult(BaseModel):
    model_config = ConfigDict(extra="ignore")
    candidate_id: CandidateId
    result_id: str
    status: str
    # This result replaced an earlier one of the same candidate, exam and session.
    correction: bool


class ResultsReleased(EventPayload):
    """Internal to this system (an addition to contract section 4): results the results service
    stored became visible in GET /api/results/me. One event per part of a board's batch, naming only
    the part's results stored and shown when it was published; `released_at` is their release time
    as that list shows it."""

    EVENT_TYPE = "ResultsReleased"
    ROUTING_KEY = "results.released"
    # Up to a part's records each, like the board's parts it comes from (BatchPart).
    CONSUMER_PREFETCH = BatchPart.CONSUMER_PREFETCH
    board: Name
    batch_id: BatchId
    part: int = Field(ge=1)
    exam: str
    session: Session
    released_at: UtcDatetime
    results: list[ReleasedResult] = Field(max_length=PART_MAX_RECORDS)


ALL_EVENTS[ResultsReleased.EVENT_TYPE] = ResultsReleased
