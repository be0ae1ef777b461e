"""Verification numbers, and the family-name check institutions pass with one.

A number is 12 characters from an alphabet with no look-alikes (no 0/O, no 1/I), printed in
groups of four: `7KQ2-M9XH-4TRE`. That is 60 random bits from `secrets`, so guessing one is hopeless
even before the rate limit, yet it can be read out over the phone. Uniqueness is the database's
job (a unique index); a collision, vanishingly rare, is retried with fresh numbers."""

import re
import secrets
import unicodedata

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 12
GROUP = 4
_SEPARATORS = re.compile(r"[\s\-]")


BITS_PER_CHARACTER = 5  # the alphabet has 32 = 2**5 letters, so 5 random bits pick one uniformly


def new_verification_number() -> str:
    # One draw of 60 bits, not one `secrets.choice` per character: each is a system call, and a
    # part of 1,000 results would spend a fifth of its handling time on them.
    bits = secrets.randbits(LENGTH * BITS_PER_CHARACTER)
    mask = (1 << BITS_PER_CHARACTER) - 1
    return _grouped("".join(ALPHABET[(bits >> (BITS_PER_CHARACTER * i)) & mask] for i in range(LENGTH)))


def canonical_verification_number(given: str) -> str | None:
    """The stored form of a number as someone typed it (any case, with or without separators),
    or None if it cannot be a verification number."""
    compact = _SEPARATORS.sub("", given).upper()
    if len(compact) != LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    return _grouped(compact)


def _grouped(compact: str) -> str:
    return "-".join(compact[i:i + GROUP] for i in range(0, LENGTH, GROUP))


def family_names_match(stored: str, given: str) -> bool:
    """Case-insensitive and blind to extra spaces and Unicode forms: `chen`, ` CHEN ` and `Chen` match."""
    return bool(given.strip()) and _folded(stored) == _folded(given)


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())
