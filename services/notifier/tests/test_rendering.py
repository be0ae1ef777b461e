"""The words of the emails, rendered as the dispatcher renders them (no broker, no SMTP)."""

from datetime import UTC, datetime

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


CONFIRMATION = {
    "en": ["To log in you need your ID Number and your password (not your Secret Number)",
           "Forgotten your password?",
           "please contact the centre where you took your exam",
           "If you did not register, please contact support@results.example.org.",
           "This is an automatic email; please do not reply to it."],
    "zh-TW": ["登入時需要您的考生編號及密碼（不是秘密號碼）",
              "忘記密碼？",
              "請聯絡您應考的考場",
              "如果您並未註冊，請聯絡 support@results.example.org。",
              "此為系統自動發送的電子郵件，請勿直接回覆。"],
}


@pytest.mark.parametrize("language", list(CONFIRMATION))
def test_the_confirmation_says_how_to_log_in_where_to_reset_and_whom_to_contact(language):
    email = render("registration_confirmation", language, context())
    for line in CONFIRMATION[language]:
        assert line in email.text, line
        assert line in email.html, line
    assert f"{BASE}/login" in email.text and f"{BASE}/forgot-password" in email.text
    assert f'href="{BASE}/login"' in email.html
    forgotten = CONFIRMATION[language][1]
    assert f'<a href="{BASE}/forgot-password">{forgotten}</a>' in email.html


LOCKED = {
    "en": "Someone entered a wrong password {n} times in a row for your Results Service account (ID Number {id})",
    "zh-TW": "有人為您的成績查詢服務帳戶（考生編號 {id}）連續輸入錯誤密碼 {n} 次",
}


@pytest.mark.parametrize("failed_attempts", [4, 6])  # 4: the default rule; 6: a threshold of 5
@pytest.mark.parametrize("language", list(LOCKED))
def test_the_lock_notice_says_how_many_wrong_passwords_were_entered(failed_attempts, language):
    locked = context(locked_until=datetime(2026, 11, 25, 10, 30, tzinfo=UTC), failed_attempts=failed_attempts)
    email = render("login_locked", language, locked)
    assert LOCKED[language].format(n=failed_attempts, id="123456") in email.text
    assert LOCKED[language].format(n=failed_attempts, id="<strong>123456</strong>") in email.html
    for part in (email.text, email.html):
        assert "more than three" not in part and "超過三次" not in part
