"""The words of the emails, rendered as the dispatcher renders them (no broker, no SMTP)."""

import pytest

from notifier.config import Settings
from notifier.dispatcher import Sender
from notifier.rendering import render

BASE = "https://results.example.org"
NAMES = {"candidate_id": "123456", "given_name": "Amy", "family_name": "Chen"}


def context(centre_name: str | None = None, **own) -> dict:
    """The dispatcher's context: the settings' (CENTRE_NAME as given, or as it defaults) and the row's."""
    settings = Settings(public_base_url=BASE, **({"centre_name": centre_name} if centre_name is not None else {}))
    return Sender.from_settings(settings).common_context() | NAMES | own


THANKS = {"en": "Thank you for registering with the Results Service.", "zh-TW": "感謝您註冊成績查詢服務。"}


@pytest.mark.parametrize("centre_name", [None, "Candidate Results Service", "British Council Taiwan"])
@pytest.mark.parametrize("language", list(THANKS))
def test_the_confirmation_names_the_service_once_whatever_the_centre_name(centre_name, language):
    email = render("registration_confirmation", language, context(centre_name))
    for part in (email.text, email.html):
        assert THANKS[language] in part
        assert "Results Service Results Service" not in part
        assert part.count("Candidate Results Service") <= 1  # the signature, when it is the centre's name
