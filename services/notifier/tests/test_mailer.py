"""The bytes the pool sends are the bytes aiosmtplib's `send_message` would have made of the same
message: the policy's shortcut for short ASCII headers changes the cost, never the email. (Sending
itself, to the real SMTP server: test_delivery.py and test_emails.py.)"""

from datetime import UTC, datetime
from email import message_from_bytes

import pytest
from aiosmtplib.email import flatten_message

from notifier.mailer import SMTP_POLICY
from notifier.rendering import Rendered, build_message

SUBJECTS = ("Your result for B2 First (FCE) 2026-06 is now available", "您的 B2 First (FCE) 2026-06 成績現已公布",
            "A subject long enough that it has to be folded over more than one line of the header block, twice " * 2)
ADDRESSES = ("amy@example.org", "Amy Chen <amy@example.org>", "陳美 <amy@example.org>",
             "A Very Long Display Name Indeed, Of Someone With Many Given Names <amy.chen@example.org>",
             "Amy \"the candidate\" Chen <amy@example.org>")


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("to", ADDRESSES)
def test_the_bytes_sent_are_those_aiosmtplib_would_make(subject, to):
    message = build_message(
        Rendered(subject=subject, text="Dear Amy,\nyour result is ready: 176 – B2.\n", html="<p>Dear Amy, 陳美</p>\n"),
        to=to, mail_from="Results Service <no-reply@results.example>", reply_to="help@results.example",
        message_id="<n-1@results.example>", date=datetime(2026, 8, 1, 9, 0, tzinfo=UTC), correlation_id="c-1",
        language="zh-TW",
    )
    assert message.as_bytes(policy=SMTP_POLICY) == flatten_message(message, utf8=False, cte_type="8bit")


def test_a_part_holding_boundary_like_lines_comes_back_whole():
    text = "--=_0123456789abcdef0123456789abcdef\n=_ and =3D as they are\n"
    message = build_message(
        Rendered(subject="S", text=text, html="<p>--=_</p>\n"), to="amy@example.org", mail_from="a@results.example",
        reply_to="a@results.example", message_id="<n-1@results.example>", date=datetime(2026, 8, 1, tzinfo=UTC),
    )
    parsed = message_from_bytes(message.as_bytes(policy=SMTP_POLICY))
    parts = [part.get_payload(decode=True).decode() for part in parsed.get_payload()]
    assert parts == [text, "<p>--=_</p>\n"]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_sender_addresses_are_encoded_as_the_recipient_is_every_time(address):
    for _ in range(2):  # From and Reply-To are worked out once and kept: the second email gets the same
        message = build_message(
            Rendered(subject="S", text="t\n", html="<p>t</p>\n"), to=address, mail_from=address, reply_to=address,
            message_id="<n-1@results.example>", date=datetime(2026, 8, 1, tzinfo=UTC),
        )
        assert message["From"] == message["Reply-To"] == message["To"]
    assert message.as_bytes(policy=SMTP_POLICY).isascii()  # a non-ASCII name goes encoded (RFC 2047)
