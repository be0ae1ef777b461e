from bench.floors import mail_headers, on_both_sides, smtp
from crs_tools import smtp_capture
from crs_tools.local_stack import free_port


def test_floors_before_and_after_a_run_count_as_one_measurement_of_their_joint_seconds():
    before = {"workers": 2, "verifications": 520, "seconds": 5.0, "per_second": 104.0, "type": "argon2id"}
    after = {"workers": 2, "verifications": 440, "seconds": 5.0, "per_second": 88.0, "type": "argon2id"}
    floor = on_both_sides(before, after)
    assert floor["verifications"] == 960 and floor["seconds"] == 10.0 and floor["per_second"] == 96.0
    assert (floor["per_second_before"], floor["per_second_after"]) == (104.0, 88.0)
    assert floor["workers"] == 2 and floor["type"] == "argon2id"


async def test_the_smtp_floor_sends_every_message_once_over_all_its_connections_at_once(tmp_path):
    sent = []
    for number in range(8):
        sent.append(tmp_path / f"{number}.eml")
        sent[-1].write_bytes(f"From: Results <results@example.org>\r\nTo: Candidate <s{number}@example.com>\r\n"
                             f"Subject: Your result\r\n\r\nBody {number}\r\n".encode())
    delay = 0.3
    capture = smtp_capture.start(tmp_path / "mail", port=free_port(), delay_seconds=delay)
    try:
        floor = await smtp(capture.port, sent, 4)
    finally:
        capture.stop()

    received = sorted((tmp_path / "mail").glob("*.eml"))
    assert (floor["messages"], floor["connections"], len(received)) == (8, 4, 8)
    recipients = sorted(mail_headers(path)["To"].addresses[0].addr_spec for path in received)
    assert recipients == sorted(f"s{number}@example.com" for number in range(8))
    # Each answer comes `delay` late: one connection would wait for eight, four side by side for two.
    assert 2 * delay <= floor["seconds"] < 8 * delay
    assert floor["per_second"] == 8 / floor["seconds"]
