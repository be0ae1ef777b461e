import httpx
import pytest

from bench.release_day import addressing, batch_report, check_addressing, ratios, stored_at_ns


def test_the_capture_servers_file_name_gives_when_the_message_was_accepted():
    assert stored_at_ns("1764120000123456789-4242-17.eml") == 1764120000123456789


def test_ratios_divide_each_stage_by_its_floor_and_name_where_most_time_goes():
    measured = {"publish_seconds": 2.0, "results_readable_seconds": 6.0, "first_email_seconds": 1.0,
                "emails_done_seconds": 21.0, "end_to_end_seconds": 21.0,
                "throughput_per_second": {"emails_sending": 50.0, "emails_end_to_end": 40.0}}
    floor = {"broker": {"seconds": 1.0}, "bulk_insert": {"seconds": 2.0},
             "smtp": {"seconds": 4.0, "per_second": 250.0}, "smtp_one_connection": {"seconds": 10.0, "per_second": 100.0}}

    r = ratios(measured, floor)

    assert r["floor_sum_seconds"] == 7.0
    assert r["end_to_end_over_floor_sum"] == pytest.approx(3.0)
    assert r["stages_over_floor"] == {"publish_over_broker": 2.0, "results_readable_over_bulk_insert": 3.0,
                                      "emails_sending_over_smtp": 5.0}
    assert r["most_time_beyond_floor"] == "emails_sending_over_smtp"
    assert r["emails_share_of_smtp_floor"] == pytest.approx(0.2)
    assert r["emails_from_publish_share_of_smtp_floor"] == pytest.approx(0.16)
    assert r["emails_share_of_one_connection_floor"] == pytest.approx(0.5)


def test_each_messages_recipient_and_message_id_are_read_from_its_headers(tmp_path):
    (tmp_path / "1-1-1.eml").write_bytes(
        b"From: Results <results@results.example.org>\r\nTo: =?utf-8?q?Ch=C3=A9n?= <s00000001@example.com>\r\n"
        b"Message-ID: <abc@results.example.org>\r\nSubject: Your result\r\n\r\nBody\r\n")

    assert addressing(tmp_path, {"1-1-1.eml"}) == {"1-1-1.eml": ("s00000001@example.com", "<abc@results.example.org>")}


def test_the_emails_must_go_to_exactly_the_candidates_with_an_issued_result_and_repeats_are_counted():
    expected = {"a@example.com", "b@example.com"}
    addressed = {"1": ("a@example.com", "<1@x>"), "2": ("b@example.com", "<2@x>"), "3": ("b@example.com", "<2@x>"),
                 "4": ("b@example.com", "<4@x>")}

    assert check_addressing(addressed, expected) == {"emails_beyond_one_per_recipient": 2, "repeated_message_ids": 1}
    with pytest.raises(RuntimeError, match="1 candidates with an issued result got no email"):
        check_addressing({"1": ("a@example.com", "<1@x>")}, expected)
    with pytest.raises(RuntimeError, match="1 result emails went to addresses without an issued result"):
        check_addressing(addressed | {"5": ("c@example.com", "<5@x>")}, expected)


async def test_the_batch_report_is_none_until_a_part_arrives_or_while_the_service_answers_late():
    answers = iter([httpx.Response(404), httpx.ReadTimeout("busy"), httpx.Response(200, json={"complete": True})])

    def results_service(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/results/batches/b1"
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with httpx.AsyncClient(transport=httpx.MockTransport(results_service), base_url="http://results") as client:
        assert [await batch_report(client, "b1") for _ in range(3)] == [None, None, {"complete": True}]


async def test_the_batch_report_fails_on_an_error_answer():
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(500)),
                                 base_url="http://results") as client:
        with pytest.raises(httpx.HTTPStatusError):
            await batch_report(client, "b1")
