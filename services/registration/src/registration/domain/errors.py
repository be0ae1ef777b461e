"""Why a registration is refused. The API turns each into its status, code and message."""


class RegistrationRefused(Exception):
    pass


class IdSecretMismatch(RegistrationRefused):
    """No published entry has this ID Number with this Secret Number (or the ID is unknown)."""


class AlreadyRegistered(RegistrationRefused):
    """The ID Number has been registered already."""


class TooManyAttempts(RegistrationRefused):
    """The ID is held after too many wrong Secret Numbers (domain/guess_limit.py); nothing was checked."""

    def __init__(self, retry_after_seconds: int):
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds
