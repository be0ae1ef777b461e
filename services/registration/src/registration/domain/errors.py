"""Why a registration is refused. The API turns each into its status, code and message."""


class RegistrationRefused(Exception):
    pass


class IdSecretMismatch(RegistrationRefused):
    """No published entry has this ID Number with this Secret Number (or the ID is unknown)."""


class AlreadyRegistered(RegistrationRefused):
    """The ID Number has been registered already."""
