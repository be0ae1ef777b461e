"""A board file's checked records, kept on disk between checking the file and publishing it.

Every row is checked before anything is published, and a release batch may hold hundreds of
thousands of rows: held as models in memory they took about 1.5 kB each (325 MB for a 100,000-row
results file, most of it rows and records). Here each record is one line of JSON in a temporary
file, deleted when the spool closes, and read back a part at a time. JSON because the records
travel as JSON in their events anyway, so the models read it back unchanged. The tool publishes
from this copy, not from the board's file, so what it publishes is what it checked even if the
file changes meanwhile.

The copy holds what the board's file holds (entries carry secret numbers), and no more: the file
has no name (`tempfile.TemporaryFile`, unlinked as it is made), only its owner may read it, and it
is gone when the tool ends, however it ends.
"""

import tempfile
from array import array
from collections.abc import Sequence
from typing import BinaryIO, Generic, TypeVar, overload

from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)


class RecordSpool(Sequence[R], Generic[R]):
    """Records of one model, appended in order and read back by index or slice."""

    def __init__(self, model: type[R]):
        self._model = model
        self._file: BinaryIO | None = None  # made by the first append, so its errors come from there
        self._starts = array("q")  # where each record's line starts in the file
        self._end = 0
        self._at_end = True  # no read has moved the file's position since the last append

    def __enter__(self) -> "RecordSpool[R]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def append(self, record: R) -> None:
        """OSError if the temporary file cannot be made or written (a full disk)."""
        line = record.model_dump_json().encode() + b"\n"
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="crs-board-records-")
        if not self._at_end:  # a seek flushes the buffer: only when a read came in between
            self._file.seek(self._end)
            self._at_end = True
        self._file.write(line)
        self._starts.append(self._end)
        self._end += len(line)

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        positions = range(len(self))[index]  # IndexError, negative indexes and steps as a list has them
        if isinstance(positions, int):
            return self._read(positions, positions + 1)[0]
        if positions.step == 1:
            return self._read(positions.start, positions.stop)
        return [self[i] for i in positions]

    def _read(self, first: int, stop: int) -> list[R]:
        """Records first..stop-1, read in one go: they are contiguous in the file."""
        if first >= stop:
            return []
        assert self._file is not None
        end = self._starts[stop] if stop < len(self) else self._end
        self._file.seek(self._starts[first])
        self._at_end = False
        lines = self._file.read(end - self._starts[first]).splitlines()
        return [self._model.model_validate_json(line) for line in lines]
