"""The password policy (contract section 2), applied at registration and at password reset.

8–128 characters, at least 6 letters and 2 digits, and not one of the 10,000 most common
passwords in zxcvbn's list. The cut-off is 10,000 so that a sensible password such as the
contract's own example `abcdef12` (rank 24,064) is still accepted.
"""

from dataclasses import dataclass

from zxcvbn.matching import RANKED_DICTIONARIES

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_LETTERS = 6
MIN_DIGITS = 2
COMMON_PASSWORD_RANK = 10_000


@dataclass(frozen=True)
class Violation:
    code: str
    message: str


def violations(password: str) -> list[Violation]:
    """Every rule the password breaks, in the order a person would fix them; empty if it is fine."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(Violation("password_too_short", f"Password must be at least {MIN_LENGTH} characters long."))
    if len(password) > MAX_LENGTH:
        found.append(Violation("password_too_long", f"Password must be at most {MAX_LENGTH} characters long."))
    if sum(ch.isalpha() for ch in password) < MIN_LETTERS:
        found.append(Violation("password_too_few_letters", f"Password must contain at least {MIN_LETTERS} letters."))
    if sum(ch.isdigit() for ch in password) < MIN_DIGITS:
        found.append(Violation("password_too_few_digits", f"Password must contain at least {MIN_DIGITS} digits."))
    if is_common(password):
        found.append(Violation("password_too_common", "This password is too common. Please choose a less predictable one."))
    return found


def is_common(password: str) -> bool:
    rank = RANKED_DICTIONARIES["passwords"].get(password.lower())
    return rank is not None and rank <= COMMON_PASSWORD_RANK
