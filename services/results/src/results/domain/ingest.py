"""How the records of one results part are sorted against the results shown now (no I/O).

A valid record for a sitting (candidate, exam, session) with no result shown is new. One with a
result shown from another batch is a correction: what was published last (the envelope's
`occurred_at`) is shown, whatever order deliveries arrive in, so a newer one replaces the shown
result (which moves to the history) and an older one, delivered late (a dead-lettered part put
back, say), goes straight to the history. One shown from this very batch is refused: a batch holds
one result per sitting. Records `check_part` refused stay refused.

The same event again is caught by the inbox; the same part under another event id by the part's
own record (`ResultsPublished.key`)."""

from dataclasses import dataclass
from datetime import datetime

from crs_shared.domain.exams import Exam, RefusedRecord, ValidResult
from crs_shared.messaging.contracts import ResultsPublished


@dataclass(frozen=True)
class PartArrival:
    """A part as it arrived: its event, and the times decided for it then (to the millisecond)."""

    part: ResultsPublished
    exam: Exam | None
    event_id: str
    correlation_id: str
    published_at: datetime
    received_at: datetime
    release_at: datetime
    announce_at: datetime

    @property
    def exam_code(self) -> str:
        return self.exam.code if self.exam else self.part.exam


@dataclass(frozen=True)
class New:
    result: ValidResult


@dataclass(frozen=True)
class Replacing:
    """A correction: `result` replaces `shown` (a result document), which goes to the history."""

    result: ValidResult
    shown: dict


@dataclass(frozen=True)
class Late:
    """Published before `shown` and delivered after it: `result` goes straight to the history."""

    result: ValidResult
    shown: dict


Stored = New | Replacing | Late


@dataclass(frozen=True)
class SortedPart:
    stored: list[Stored]  # in the part's order
    refused: list[RefusedRecord]

    @property
    def showing(self) -> list[New | Replacing]:
        """What the part shows once written, in its order."""
        return [s for s in self.stored if not isinstance(s, Late)]

    @property
    def corrected(self) -> int:
        return sum(isinstance(s, Replacing) for s in self.stored)


def sort_part(arrival: PartArrival, valid: list[ValidResult], refused: list[RefusedRecord],
              shown: dict[str, dict]) -> SortedPart:
    """`valid` sorted against `shown` (the result documents shown now, by candidate ID)."""
    part, stored, refused = arrival.part, [], list(refused)
    for result in valid:
        earlier = shown.get(result.candidate_id)
        if earlier is None:
            stored.append(New(result))
        elif (earlier["board"], earlier["batch_id"]) == (part.board, part.batch_id):
            refused.append(RefusedRecord(result.candidate_id, [
                f"already has a result for {result.exam.name} {part.session} in part {earlier['part']} of this batch"
            ]))
        elif earlier["published_at"] > arrival.published_at:
            stored.append(Late(result, earlier))
        else:
            stored.append(Replacing(result, earlier))
    return SortedPart(stored, refused)
