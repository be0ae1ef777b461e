"""Why a log-in or a reset is refused. The API turns each into its status, code and message."""

from datetime import datetime


class AuthRefused(Exception):
    pass


class InvalidCredentials(AuthRefused):
    """Unknown ID Number or wrong password: the caller is never told which."""


class AccountLocked(AuthRefused):
    def __init__(self, locked_until: datetime, now: datetime):
        super().__init__("account locked")
        self.locked_until, self.now = locked_until, now


class InvalidResetToken(AuthRefused):
    """Unknown, used or expired reset token."""
