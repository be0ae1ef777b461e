"""Checked records kept in a temporary file and read back as the same models."""

import tempfile
from pathlib import Path

import pytest

from crs_shared.messaging.contracts import Entry
from crs_tools.record_spool import RecordSpool


def entry(n: int, given_name: str = "Amy") -> Entry:
    return Entry(candidate_id=f"C{n:06d}", secret_number="4821", given_name=given_name, family_name="陳",
                 exam="B2_FIRST", session="2026-06", centre="GB001")


def test_records_read_back_equal_to_those_appended_by_index_and_by_slice():
    with RecordSpool(Entry) as spool:
        for n in range(25):
            spool.append(entry(n, given_name="Chloé\nMarie" if n == 3 else "Amy"))
        assert len(spool) == 25
        assert spool[3] == entry(3, given_name="Chloé\nMarie")
        assert spool[-1] == entry(24)
        assert spool[10:20] == [entry(n) for n in range(10, 20)]
        assert spool[20:100] == [entry(n) for n in range(20, 25)]
        assert spool[5:5] == []
        assert spool[0:6:2] == [entry(0), entry(2), entry(4)]
        assert list(spool) == [entry(n, given_name="Chloé\nMarie" if n == 3 else "Amy") for n in range(25)]
        with pytest.raises(IndexError):
            spool[25]


def test_appending_after_reading_adds_at_the_end():
    with RecordSpool(Entry) as spool:
        spool.append(entry(0))
        spool.append(entry(1))
        assert spool[0] == entry(0)  # moves the file's position back to the first record
        spool.append(entry(2))
        assert spool[:] == [entry(0), entry(1), entry(2)]


def test_an_empty_spool_reads_as_empty_and_closes():
    spool = RecordSpool(Entry)
    assert len(spool) == 0 and spool[:] == []
    spool.close()


def test_the_copy_has_no_name_in_the_temporary_folder():
    """It may hold secret numbers: no other process may find it by name, even while it is open."""
    with RecordSpool(Entry) as spool:
        spool.append(entry(0))
        assert len(spool) == 1
        assert not list(Path(tempfile.gettempdir()).glob("crs-board-records-*"))
