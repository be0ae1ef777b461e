import os

import pytest

from crs_shared.config import ServiceSettings
from crs_shared.passwords import Passwords, usable_cpus


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings()


async def test_a_hash_verifies_its_password_only(settings):
    passwords = Passwords(settings)
    try:
        stored = await passwords.hash("correct horse battery")
        assert await passwords.verify(stored, "correct horse battery")
        assert not await passwords.verify(stored, "correct horse battery!")
        assert not await passwords.verify(None, "correct horse battery")
        assert not await passwords.verify("not an argon2 hash", "correct horse battery")
    finally:
        passwords.close()


def test_hashes_at_once_are_the_setting_when_given(settings):
    passwords = Passwords(settings.model_copy(update={"argon2_workers": 3}))
    try:
        assert passwords.workers == 3
    finally:
        passwords.close()


def test_hashes_at_once_default_to_the_cpus_the_process_may_run_on(settings, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    assert usable_cpus() == 1
    passwords = Passwords(settings)
    try:
        assert passwords.workers == 1
    finally:
        passwords.close()


def test_hashes_at_once_must_be_at_least_one():
    with pytest.raises(ValueError, match="argon2_workers"):
        ServiceSettings(argon2_workers=0)
