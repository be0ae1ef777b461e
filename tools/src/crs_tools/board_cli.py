"""The command-line flow every exam-board tool shares (contract section 6): check the whole file,
then either stop with every bad row listed, or dry-run, or publish with a progress bar, and end
with a summary. A tool supplies only its columns, its row model and how a part is built."""

import argparse
import asyncio
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TextIO

from pydantic import ValidationError
from rich.console import Console

from crs_shared.messaging.contracts import BatchPart
from crs_tools.board_csv import CsvFileError, R, RowSpec, check_file
from crs_tools.board_publish import (
    DEFAULT_AMQP_URL, BatchNotPublished, PreparedBatch, PublishProgress, PublishState, amqp_url_problem,
    new_batch_id, not_published_report, prepare_batch, publish_batch,
)
from crs_tools.record_spool import RecordSpool

EXIT_OK = 0
EXIT_INVALID_FILE = 1
EXIT_USAGE = 2
EXIT_NOT_PUBLISHED = 3
EXIT_INTERRUPTED = 130

EXIT_STATUSES = f"""exit status:
  {EXIT_OK}    published (or, with --dry-run, the file is valid)
  {EXIT_INVALID_FILE}    the file is not valid; every problem is listed and nothing was published
  {EXIT_USAGE}    wrong command-line arguments
  {EXIT_NOT_PUBLISHED}    the broker could not be reached or did not confirm every part; the message says which
       parts were confirmed; run again with the same --batch-id to publish the rest (also: the checked
       records could not be kept in a temporary file, and nothing was published)"""


@dataclass(frozen=True)
class BoardTool(Generic[R]):
    name: str  # the command's name
    noun: str  # what a record is called in messages: "entries", "results"
    spec: RowSpec[R]
    # Given the parsed arguments and the batch id, returns the function that builds part `part` of `parts`.
    part_builder: Callable[[argparse.Namespace, str], Callable[[int, int, list[R]], BatchPart]]
    record_model: type[R]
    # The summary counts records by this label, e.g. their exam and session.
    breakdown: Callable[[R], str] | None = None


def board_parser(tool: BoardTool, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=tool.name, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"CSV columns (header line required, UTF-8):\n  {','.join(tool.spec.columns)}\n\n{EXIT_STATUSES}",
    )
    parser.add_argument("file", metavar="FILE.csv", help="the CSV file to publish")
    parser.add_argument("--board", required=True, metavar="NAME", help="the exam board's name")
    parser.add_argument("--dry-run", action="store_true", help="only check the file; publish nothing")
    parser.add_argument("--batch-id", metavar="ID",
                        help="the batch id (default: a new UUID); reuse it to finish a batch that was cut short")
    parser.add_argument("--amqp-url", metavar="URL", default=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL),
                        help=f"the RabbitMQ broker (default: $AMQP_URL, else {DEFAULT_AMQP_URL})")
    return parser


def run(tool: BoardTool, parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser.parse_args(argv)
    if not args.dry_run and (problem := amqp_url_problem(args.amqp_url)):
        parser.error(f"--amqp-url (or AMQP_URL): {problem}")
    for library in ("aio_pika", "aiormq"):  # their log lines repeat what our error message says
        logging.getLogger(library).addHandler(logging.NullHandler())
        logging.getLogger(library).propagate = False

    with RecordSpool(tool.record_model) as records:
        return _check_and_publish(tool, parser, args, records, out, err)


def _check_and_publish(tool: BoardTool[R], parser: argparse.ArgumentParser, args: argparse.Namespace,
                       records: RecordSpool[R], out: TextIO, err: TextIO) -> int:
    counts: Counter[str] = Counter()

    def keep(record: R) -> None:
        records.append(record)
        if tool.breakdown is not None:
            counts[tool.breakdown(record)] += 1

    try:
        checked = check_file(args.file, tool.spec, on_record=keep)
    except CsvFileError as exc:
        print(f"error: {args.file}: {exc}", file=err)
        print("Nothing was published.", file=err)
        return EXIT_INVALID_FILE
    except OSError as exc:  # the spool's temporary file (the board's own file gives CsvFileError): a full disk
        print(f"error: cannot keep the checked records in a temporary file: {exc.strerror or exc}", file=err)
        print("Nothing was published.", file=err)
        return EXIT_NOT_PUBLISHED
    if not checked.ok:
        bad_rows = len({p.line for p in checked.problems})
        print(f"error: {args.file}: {_count(len(checked.problems), 'problem')} in {_count(bad_rows, 'row')} "
              f"(of {checked.rows}); nothing was published.", file=err)
        for problem in checked.problems:
            print(problem, file=err)
        return EXIT_INVALID_FILE

    batch_id = args.batch_id if args.batch_id is not None else new_batch_id()
    try:
        batch = prepare_batch(records, batch_id=batch_id, make_part=tool.part_builder(args, batch_id))
    except ValidationError as exc:
        parser.error("; ".join(_argument_problem(e) for e in exc.errors(include_url=False)))

    if args.dry_run:
        print(f"Dry run: {args.file} is valid; nothing was published.", file=out)
        shown_id = batch.batch_id if args.batch_id is not None else "(a new one when publishing; --batch-id chooses it)"
        _summary(batch, counts, shown_id, out)
        return EXIT_OK

    state = PublishState()
    try:
        with PublishProgress(batch, Console(file=err)) as progress:
            asyncio.run(publish_batch(batch, args.amqp_url, state=state, on_connected=progress.started,
                                      on_confirmed=progress.confirmed))
    except BatchNotPublished as exc:
        print(exc.report(), file=err)
        return EXIT_NOT_PUBLISHED
    except KeyboardInterrupt:
        print(not_published_report(batch, state.confirmed, "interrupted"), file=err)
        return EXIT_INTERRUPTED
    print(f"Published {args.file}: {batch.records} {tool.noun} for board {batch.board}.", file=out)
    _summary(batch, counts, batch.batch_id, out)
    return EXIT_OK


def _summary(batch: PreparedBatch, counts: Counter[str], batch_id: str, out: TextIO) -> None:
    print(f"batch id: {batch_id}", file=out)
    print(f"parts:    {batch.parts}", file=out)
    print(f"records:  {batch.records}", file=out)
    for label, count in sorted(counts.items()):
        print(f"  {label}: {count}", file=out)


def _argument_problem(error: dict) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    if field == "producer":  # the envelope's producer is "board:<NAME>"
        return "--board: the name is too long (board:NAME must fit in 100 characters)"
    option = {"board": "--board", "batch_id": "--batch-id", "correlation_id": "--batch-id"}.get(field, field)
    return f"{option}: {error['msg']}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
