"""The emails as the dispatcher composes them: their words, their times and their headers (no broker,
no SMTP)."""

from datetime import UTC, datetime
from email import message_from_bytes

import pytest

from notifier.config import Settings
from notifier.mailer import SMTP_POLICY
from notifier.rendering import TEMPLATES, Sender, Unsendable, compose, render

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


def test_every_email_extends_the_layout_of_its_language():
    for language in ("en", "zh-TW"):
        bodies = [p for p in (TEMPLATES / language).iterdir()
                  if p.suffix in (".html", ".txt") and not p.name.endswith(".subject.txt") and p.stem != "layout"]
        assert len(bodies) == 12  # six kinds, two parts each
        for body in bodies:
            assert body.read_text().startswith(f'{{% extends "{language}/layout{body.suffix}" %}}'), body
        assert "<!DOCTYPE html>" not in "".join(b.read_text() for b in bodies)


MOMENTS = {"en": "25 November 2026, 18:30 Taiwan Standard Time", "zh-TW": "2026年11月25日 18:30 台北標準時間"}


@pytest.mark.parametrize("language", list(MOMENTS))
def test_times_are_shown_in_the_centres_zone_which_the_email_names(language):
    changed = context(changed_at=datetime(2026, 11, 25, 10, 30, tzinfo=UTC))  # UTC in the data
    email = render("password_changed", language, changed)
    assert MOMENTS[language] in email.text and MOMENTS[language] in email.html
    london = Sender.from_settings(Settings(centre_timezone="Europe/London")).common_context()
    assert "10:30" in render("password_changed", language, changed | london).text


def test_an_unknown_centre_time_zone_is_refused_at_start():
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(centre_timezone="Mars/Olympus")


def test_a_lease_shorter_than_four_smtp_timeouts_is_refused_at_start():
    with pytest.raises(ValueError, match="at most a quarter"):
        Settings(send_lease_seconds=20, smtp_timeout_seconds=10)


ROW = {"_id": "n1", "kind": "registration_confirmation", "language": "en", "email": "amy@example.com",
       "context": NAMES, "correlation_id": "req-1"}
SENDER = Sender.from_settings(Settings())


def test_no_control_character_reaches_a_header():
    row = ROW | {"correlation_id": "batch-1\r\nBcc: eve@example.com\x00\u2028", "language": "en\nX-Evil: 1"}
    message = message_from_bytes(compose(row, SENDER, datetime(2026, 6, 1, tzinfo=UTC)).as_bytes(policy=SMTP_POLICY))
    assert message["X-Correlation-ID"] == "batch-1Bcc: eve@example.com"
    assert message["Bcc"] is None and message["X-Evil"] is None


@pytest.mark.parametrize("address", ["josé@example.com", "amy@example.com\r\nBcc: eve@example.com", "", None,
                                     "not an address"])
def test_an_address_that_cannot_be_sent_to_makes_the_email_unsendable(address):
    with pytest.raises(Unsendable, match="cannot be sent to"):
        compose(ROW | {"email": address}, SENDER, datetime(2026, 6, 1, tzinfo=UTC))
