"""Why a request about results is refused. The API turns each into its status, code and message."""


class ResultsRefusal(Exception):
    pass


class ResultNotFound(ResultsRefusal):
    """No released result with this id belongs to the caller (or none exists at all: the same)."""


class StatementUnavailable(ResultsRefusal):
    """The caller's own result is withheld or pending: there is nothing to state yet."""


class VerificationFailed(ResultsRefusal):
    """The number is unknown, malformed, not yet released, not issued, or the family name differs."""


class VerificationSuperseded(ResultsRefusal):
    """The number is of a released, issued result that a correction has since replaced, and the family
    name is right: the statement bearing it is out of date. What replaced it is not told."""


class BatchNotFound(ResultsRefusal):
    """No part of this batch has arrived."""
