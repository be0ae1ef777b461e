"""The candidate portal in a real browser (Debian's Chromium driven by Playwright) against the real
system: SecantusDB, RabbitMQ, the SMTP capture server, the four services as processes and the
nginx gateway. The test plays the exam board (it publishes entries and results on the broker) and
reads the candidate's emails from the SMTP capture server.

Screenshots of every page in both languages go to tests/artifacts/screenshots/ (not committed)."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from crs_shared.messaging.contracts import EntriesPublished, Entry, ResultRecord, ResultsPublished
from tests.support.broker import envelope_for, publish
from tests.support.browser import chromium_missing, launch, screenshot
from tests.support.infrastructure import SmtpCapture
from tests.support.stack import wait_for_entries
from tests.support.system import RunningSystem, link_in, plain_text
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PASSWORD = "bluesky42river"
NEW_PASSWORD = "greenfield77lake"
CANDIDATES = {
    # candidate_id: (secret_number, given_name, family_name, email)
    "EN0001": ("4821", "Amy", "Chen", "amy.portal@example.com"),
    "LOCK01": ("5555", "Ben", "Locke", "ben.portal@example.com"),
    "RESET1": ("6060", "Cleo", "Reyes", "cleo.portal@example.com"),
    "ZH0001": ("7373", "美玲", "王", "meiling.portal@example.com"),
    "NEXT01": ("8080", "Dan", "Nexter", "dan.portal@example.com"),
}
EXAM_SESSION = {"EN0001": ("B2_FIRST", "2026-06"), "ZH0001": ("A2_KEY", "2026-06")}
SCORES = {
    # B2 First: average of five skills 176 -> grade B, CEFR B2
    "EN0001": dict(overall_score=176, grade="B", cefr_level="B2",
                   skills={"reading": 175, "writing": 170, "listening": 180, "speaking": 178, "use_of_english": 177}),
    # A2 Key: average of four skills 141 (140.75 rounded half up) -> grade A, CEFR B1
    "ZH0001": dict(overall_score=141, grade="A", cefr_level="B1",
                   skills={"reading": 142, "writing": 139, "listening": 141, "speaking": 141}),
}


# -- the system, once for the whole file --------------------------------------------------------

@pytest.fixture(scope="module")
def amqp_vhost(rabbit_vhosts):
    with rabbit_vhosts.lent() as url:
        yield url


@pytest.fixture(scope="module")
def mail(tmp_path_factory):
    server = SmtpCapture(tmp_path_factory.mktemp("portal-mail"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def system(mongo_url, amqp_vhost, mail, tmp_path_factory):
    running = RunningSystem(mongo_url, amqp_vhost, mail.port, tmp_path_factory.mktemp("portal-system")).start()
    try:
        entries = [Entry(candidate_id=cid, secret_number=secret, given_name=given, family_name=family,
                         exam=EXAM_SESSION.get(cid, ("B1_PRELIMINARY", "2026-06"))[0],
                         session="2026-06", centre="TW001")
                   for cid, (secret, given, family, _email) in CANDIDATES.items()]
        part = EntriesPublished(board="Cambridge English", batch_id="portal-entries", part=1, parts=1, entries=entries)
        as_exam_board(amqp_vhost, part)
        aside(wait_for_entries(running.services["registration"], CANDIDATES))
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser():
    problem = chromium_missing()
    if problem:
        pytest.fail(problem)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, system):
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the portal: {errors}"


# -- helpers --------------------------------------------------------------------------------------

def aside(coroutine) -> None:
    """Runs a coroutine in a thread of its own: Playwright's sync API owns this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def as_exam_board(amqp_url: str, part) -> None:
    aside(publish(amqp_url, (envelope_for(part), part.ROUTING_KEY)))


def register_by_api(system: RunningSystem, candidate_id: str, secret: str, email: str,
                    password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{system.services['registration'].url}/api/registration/candidates", json={
        "candidate_id": candidate_id, "secret_number": secret, "email": email, "password": password,
        "password_confirm": password, "accept_terms": True})


def registered(system: RunningSystem, candidate_id: str) -> None:
    secret, _, _, email = CANDIDATES[candidate_id]
    response = register_by_api(system, candidate_id, secret, email)
    assert response.status_code == 201, response.text
    wait_until_sync(lambda: login_status(system, candidate_id) == 200, timeout=20,
                    what="auth to learn of the registration")


def login_status(system: RunningSystem, candidate_id: str) -> int:
    return httpx.post(f"{system.services['auth'].url}/api/auth/login",
                      json={"candidate_id": candidate_id, "password": PASSWORD}).status_code


def publish_result(amqp_url: str, candidate_id: str) -> None:
    exam, session = EXAM_SESSION[candidate_id]
    _, given, family, _ = CANDIDATES[candidate_id]
    part = ResultsPublished(board="Cambridge English", batch_id=f"portal-results-{candidate_id}", part=1, parts=1,
                            exam=exam, session=session, release_at=None,
                            results=[ResultRecord(candidate_id=candidate_id, given_name=given, family_name=family,
                                                  status="issued", **SCORES[candidate_id])])
    as_exam_board(amqp_url, part)


def email_to(mail: SmtpCapture, candidate_id: str, subject_part: str):
    address = CANDIDATES[candidate_id][3]

    def find():
        return next((m for m in mail.messages_to(address) if subject_part in str(m["Subject"])), None)
    return wait_until_sync(find, timeout=30, what=f"an email to {address} about {subject_part!r}")


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    ready(page)


def ready(page: Page) -> None:
    """The portal marks <html data-ready> once it has loaded its texts and drawn the page."""
    page.wait_for_selector("html[data-ready]", state="attached")


def switch_language(page: Page, name: str) -> None:
    page.get_by_role("button", name=name).click()
    expect(page.get_by_role("button", name=name)).to_have_attribute("aria-pressed", "true")


def log_in(page: Page, candidate_id: str, password: str) -> int:
    """Submits the log-in form; the status the API answered."""
    page.locator("#candidate_id").fill(candidate_id)
    page.locator("#password").fill(password)
    with page.expect_response(lambda response: response.url.endswith("/api/auth/login")) as answer:
        page.locator("#login-form button[type=submit]").click()
    return answer.value.status


# -- the tests ------------------------------------------------------------------------------------

def test_register_read_email_log_in_see_result_download_statement_log_out(page, system, mail, amqp_vhost):
    secret, given, family, address = CANDIDATES["EN0001"]
    open_page(page, system.url)
    screenshot(page, "home-en")
    page.get_by_role("link", name="Register", exact=True).first.click()
    ready(page)
    expect(page).to_have_url(re.compile(r"/register$"))

    help_text = page.locator("#candidate_id-help")
    expect(help_text).to_be_hidden()
    page.locator("[data-field=candidate_id] summary").click()
    expect(help_text).to_be_visible()
    expect(help_text).to_contain_text("Confirmation of Entry")
    page.locator("[data-field=secret_number] summary").click()
    expect(page.locator("#secret_number-help")).to_contain_text("4-digit")
    expect(page.locator("#password-hint")).to_contain_text("at least 6 letters and at least 2 digits")
    expect(page.locator("#language")).to_have_value("en")
    screenshot(page, "register-en")

    page.get_by_label("ID Number").fill("en0001")
    page.get_by_label("Secret Number").fill(secret)
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("I have read and accept the terms and conditions").check()
    page.get_by_role("button", name="Register").click()
    done = page.locator("#register-done")
    expect(done).to_be_visible()
    expect(done).to_be_focused()
    expect(done).to_contain_text(f"We have sent a confirmation email to {address}.")
    screenshot(page, "register-done-en")

    confirmation = email_to(mail, "EN0001", "is confirmed")
    assert "EN0001" in plain_text(confirmation)

    # The exam board publishes the result; the candidate follows the link in the results email.
    publish_result(amqp_vhost, "EN0001")
    results_email = email_to(mail, "EN0001", "Your result for B2 First")
    results_link = link_in(results_email, "/results")
    assert results_link == f"{system.url}/results"
    token = system.api_token("EN0001", PASSWORD)
    wait_until_sync(lambda: system.released_results(token), timeout=30, what="the results service to store the result")

    open_page(page, results_link)  # not logged in yet: the portal asks for a log-in first
    expect(page).to_have_url(re.compile(r"/login\?next=/results$"))
    screenshot(page, "login-en")
    log_in(page, "EN0001", PASSWORD)
    expect(page).to_have_url(re.compile(r"/results$"))
    ready(page)
    card = page.locator("article.result")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading")).to_have_text("B2 First (FCE) – June 2026")
    for skill, score in [("Reading", 175), ("Writing", 170), ("Listening", 180), ("Speaking", 178),
                         ("Use of English", 177), ("Overall score", 176)]:
        expect(card.get_by_role("row", name=skill)).to_contain_text(str(score))
    expect(card.locator("dd.grade")).to_have_text("B")
    expect(card.locator("dd.cefr")).to_have_text("B2")
    number = card.locator("dd.verification-number").inner_text()
    assert number and number != "—"
    screenshot(page, "results-en")

    with page.expect_download() as download_info:
        card.get_by_role("button", name="Download your Statement of Results (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == "statement-of-results-B2_FIRST-2026-06.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    expect(page.locator("#download-status")).to_have_text("Your Statement of Results has been downloaded.")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "results-en-phone")
    page.set_viewport_size({"width": 1024, "height": 800})

    # An institution checks the statement, as its QR code links to /verify?number=...
    verify_tab = page.context.new_page()
    open_page(verify_tab, f"{system.url}/verify?number={number}")
    expect(verify_tab.get_by_label("Verification number")).to_have_value(number)
    verify_tab.get_by_label("Candidate's family name").fill("chen")
    verify_tab.get_by_role("button", name="Verify").click()
    expect(verify_tab.locator("#verify-result")).to_be_visible()
    expect(verify_tab.locator("#verify-name")).to_have_text("Amy Chen")
    expect(verify_tab.locator("#verify-overall")).to_have_text("176")
    screenshot(verify_tab, "verify-en")
    verify_tab.close()

    session_token = page.evaluate("JSON.parse(sessionStorage.getItem('crs.session')).token")
    page.get_by_role("link", name="Log out").click()
    ready(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("You have logged out")
    assert page.evaluate("sessionStorage.getItem('crs.session')") is None
    expect(page.get_by_role("link", name="Log in", exact=True).first).to_be_visible()
    screenshot(page, "logout-en")
    revoked = httpx.get(f"{system.url}/api/results/me", headers={"Authorization": f"Bearer {session_token}"})
    assert revoked.status_code == 401
    open_page(page, f"{system.url}/results")
    expect(page).to_have_url(re.compile(r"/login\?next=/results$"))


def test_lockout_is_shown_after_four_wrong_passwords(page, system, mail):
    registered(system, "LOCK01")
    open_page(page, f"{system.url}/login")
    summary = page.locator("#error-summary")
    for _attempt in range(3):
        assert log_in(page, "LOCK01", "wrongpassword99") == 401
        expect(summary).to_have_text(re.compile(r"The ID Number or password is incorrect\.$"), use_inner_text=True)
        expect(summary).to_be_focused()
        expect(page.locator("#password")).to_have_value("")
    assert log_in(page, "LOCK01", "wrongpassword99") == 423
    expect(summary).to_contain_text("This account has been locked. Please try again in 30 minutes.")
    expect(page.locator("#locked-next")).to_be_visible()
    expect(page.locator("#locked-next").get_by_role("link", name="Forgotten your password?")).to_be_visible()
    expect(summary).not_to_contain_text("account_locked")
    screenshot(page, "login-locked-en")
    email_to(mail, "LOCK01", "locked")

    # The right password does not help while the lock lasts.
    assert log_in(page, "LOCK01", PASSWORD) == 423
    expect(summary).to_contain_text("This account has been locked. Please try again in 30 minutes.")


def test_the_login_page_warns_of_the_lock_and_that_the_password_is_not_the_secret_number(page, system):
    # Candidates who type their Secret Number as the password lock themselves out: the page says
    # so before anyone is locked, in both languages.
    open_page(page, f"{system.url}/login")
    expect(page.locator("#login-warning")).to_have_text(
        "If you enter the wrong password more than three times, you will not be able to log on for 30 minutes.")
    password_hint = page.locator("#password-hint")
    expect(password_hint).to_have_text("This is not your Secret Number.")
    expect(page.locator("#password")).to_have_attribute("aria-describedby", re.compile(r"\bpassword-hint\b"))
    switch_language(page, "繁體中文")
    expect(page.locator("#login-warning")).to_have_text("如果您輸入錯誤密碼超過三次，將有 30 分鐘無法登入。")
    expect(password_hint).to_have_text("這不是您的秘密號碼。")


@pytest.fixture(scope="module")
def next_candidate(system):
    registered(system, "NEXT01")
    return "NEXT01"


# `next` values that lead off the site once the browser reads them: it drops tabs and newlines from
# a URL and reads "\" as "/", so "/%09/evil.com" and "/\evil.com" both become "//evil.com".
OFF_SITE_NEXT = ["/%09/evil.com", "/%0A/evil.com", "/\\evil.com", "/%5Cevil.com", "/%5C%5Cevil.com",
                 "//evil.com", "https://evil.com/", "javascript:alert(1)",
                 # same-origin as a whole URL, but whose path, once "." and ".." are resolved, starts
                 # with "//": given back alone, it is a URL of its own that leads to evil.com
                 "/.//evil.com", "/..//evil.com", "/%2e//evil.com", "/./\\evil.com", "/a/..//evil.com"]


@pytest.mark.parametrize("next_value", OFF_SITE_NEXT)
def test_log_in_never_leaves_the_portal_for_the_site_in_next(page, system, next_candidate, next_value):
    # Were the portal to go there, the browser would land on this stand-in, not on the network.
    page.context.route(re.compile(r"^https?://evil\.com"),
                       lambda route: route.fulfill(status=200, content_type="text/html", body="off site"))
    open_page(page, f"{system.url}/login?next={next_value}")
    assert log_in(page, next_candidate, PASSWORD) == 200
    expect(page).to_have_url(f"{system.url}/results")  # the default page, on the portal's own origin
    ready(page)


def test_log_in_goes_on_to_the_page_in_next_on_the_portal(page, system, next_candidate):
    open_page(page, f"{system.url}/login?next=/verify%3Fnumber%3DABC123")
    assert log_in(page, next_candidate, PASSWORD) == 200
    expect(page).to_have_url(f"{system.url}/verify?number=ABC123")
    ready(page)
    open_page(page, f"{system.url}/logout")
    open_page(page, f"{system.url}/results")  # the portal sends the candidate to /login?next=/results
    expect(page).to_have_url(f"{system.url}/login?next=/results")
    assert log_in(page, next_candidate, PASSWORD) == 200
    expect(page).to_have_url(f"{system.url}/results")


def test_a_held_id_number_is_explained_beside_it_in_both_languages(page, system):
    # Five wrong Secret Numbers, straight at the service (the gateway's per-address limit is not
    # what this is about), hold the ID Number for an hour.
    for wrong in ("0001", "0002", "0003", "0004", "0005"):
        assert register_by_api(system, "HELD01", wrong, "held.portal@example.com").status_code == 400
    open_page(page, f"{system.url}/register")
    page.get_by_label("ID Number").fill("HELD01")
    page.get_by_label("Secret Number").fill("0006")
    page.get_by_label("Email address").fill("held.portal@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("I have read and accept the terms and conditions").check()
    with page.expect_response(lambda response: response.url.endswith("/api/registration/candidates")) as answer:
        page.get_by_role("button", name="Register").click()

    assert answer.value.status == 429
    error = page.locator("#candidate_id-error")
    expect(error).to_have_text(
        "Too many wrong Secret Numbers have been entered for this ID Number, so its registration is paused. "
        "Please check the ID Number and Secret Number on your Confirmation of Entry and try again in 60 minutes.")
    expect(page.locator("#error-summary")).not_to_contain_text("too_many_attempts")
    screenshot(page, "register-held-en")
    switch_language(page, "繁體中文")
    expect(error).to_have_text("此考生編號輸入錯誤秘密號碼的次數過多，註冊已暫停。請對照您的准考證明確認考生編號與秘密號碼，"
                               "並於 60 分鐘後再試。")


def test_password_reset_through_the_link_in_the_email(page, system, mail):
    registered(system, "RESET1")
    open_page(page, f"{system.url}/login")
    page.get_by_role("link", name="Forgotten your password?").click()
    ready(page)
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    screenshot(page, "forgot-password-en")
    page.get_by_label("ID Number").fill("RESET1")
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#forgot-sent")).to_contain_text("If this ID Number is registered")
    screenshot(page, "forgot-password-sent-en")

    link = link_in(email_to(mail, "RESET1", "Reset your"), "/reset-password?token=")
    assert link.startswith(f"{system.url}/reset-password?token=")
    open_page(page, link)
    expect(page).to_have_url(f"{system.url}/reset-password")  # the token left the address bar
    screenshot(page, "reset-password-en")

    # A 422 shows each broken rule beside its field.
    page.get_by_label("New password").fill("short1")
    page.get_by_label("Confirm password").fill("different")
    page.get_by_role("button", name="Set the new password").click()
    password_error = page.locator("#password-error")
    expect(password_error).to_contain_text("Password must be at least 8 characters long.")
    expect(password_error).to_contain_text("Password must contain at least 2 digits.")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password")).to_have_attribute("aria-describedby", re.compile(r"\bpassword-error\b"))
    expect(page.locator("#password_confirm-error")).to_be_hidden()
    screenshot(page, "reset-password-errors-en")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#password_confirm-error")).to_have_text("The two passwords do not match.")
    expect(password_error).to_be_hidden()
    expect(page.locator("#password")).not_to_have_attribute("aria-invalid", "true")

    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#reset-done")).to_be_visible()
    screenshot(page, "reset-done-en")
    email_to(mail, "RESET1", "has been changed")

    page.locator("#reset-done").get_by_role("link", name="Log in").click()
    ready(page)
    log_in(page, "RESET1", PASSWORD)
    expect(page.locator("#error-summary")).to_contain_text("The ID Number or password is incorrect.")
    log_in(page, "RESET1", NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/results$"))
    ready(page)
    expect(page.locator("#results-none")).to_have_text(
        "Your results have not been released yet. We will email you as soon as they are available.")
    screenshot(page, "results-none-en")

    # The link is single use.
    open_page(page, link)
    page.get_by_label("New password").fill("another55password")
    page.get_by_label("Confirm password").fill("another55password")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#error-summary")).to_contain_text("This password reset link is invalid")


def test_the_same_journey_in_traditional_chinese(page, system, mail, amqp_vhost):
    secret, _, family, address = CANDIDATES["ZH0001"]
    open_page(page, system.url)
    switch_language(page, "繁體中文")
    expect(page.locator("html")).to_have_attribute("lang", "zh-TW")
    expect(page.get_by_role("heading", level=1)).to_have_text("線上查詢考試成績")
    screenshot(page, "home-zh-TW")

    page.get_by_role("link", name="註冊", exact=True).first.click()
    ready(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-TW")  # remembered from the last page
    expect(page.locator("#language")).to_have_value("zh-TW")  # emails in the language of the page
    page.locator("[data-field=candidate_id] summary").click()
    expect(page.locator("#candidate_id-help")).to_contain_text("准考證明")
    screenshot(page, "register-zh-TW")

    page.get_by_label("考生編號").fill("ZH0001")
    page.get_by_label("秘密號碼").fill(secret)
    page.get_by_label("電子郵件地址").fill(address)
    page.get_by_label("密碼", exact=True).fill(PASSWORD)
    page.get_by_label("確認密碼").fill("notthesame12")
    page.get_by_label("我已閱讀並同意使用條款").check()
    page.get_by_role("button", name="註冊").last.click()
    expect(page.locator("#password_confirm-error")).to_have_text("兩次輸入的密碼不一致。")
    screenshot(page, "register-errors-zh-TW")
    switch_language(page, "English")  # errors already shown follow the language
    expect(page.locator("#password_confirm-error")).to_have_text("The two passwords do not match.")
    switch_language(page, "繁體中文")

    page.get_by_label("確認密碼").fill(PASSWORD)
    page.get_by_role("button", name="註冊").last.click()
    expect(page.locator("#register-done")).to_contain_text(f"我們已寄送確認信至 {address}。")
    screenshot(page, "register-done-zh-TW")
    assert "註冊已確認" in str(email_to(mail, "ZH0001", "註冊")["Subject"])

    publish_result(amqp_vhost, "ZH0001")
    results_link = link_in(email_to(mail, "ZH0001", "成績現已公布"), "/results")
    token = system.api_token("ZH0001", PASSWORD)
    wait_until_sync(lambda: system.released_results(token), timeout=30, what="the results service to store the result")

    open_page(page, results_link)
    expect(page.get_by_role("heading", level=1)).to_have_text("登入")
    screenshot(page, "login-zh-TW")
    log_in(page, "ZH0001", "wrongpassword99")
    expect(page.locator("#error-summary")).to_contain_text("考生編號或密碼不正確。")
    screenshot(page, "login-error-zh-TW")
    log_in(page, "ZH0001", PASSWORD)
    expect(page).to_have_url(re.compile(r"/results$"))
    ready(page)
    card = page.locator("article.result")
    expect(card.get_by_role("heading")).to_have_text("A2 Key (KET) – 2026年6月")
    expect(card.get_by_role("row", name="閱讀")).to_contain_text("142")
    expect(card.get_by_role("row", name="總分")).to_contain_text("141")
    expect(card.locator("dd.cefr")).to_have_text("B1")
    screenshot(page, "results-zh-TW")
    with page.expect_download() as download_info:
        card.get_by_role("button", name="下載成績單（PDF）").click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")

    number = card.locator("dd.verification-number").inner_text()
    page.get_by_role("link", name="驗證成績").click()
    ready(page)
    page.get_by_label("驗證編號").fill(number)
    page.get_by_label("考生姓氏").fill("不對")
    page.get_by_role("button", name="驗證").click()
    expect(page.locator("#error-summary")).to_contain_text("沒有與此驗證編號及姓氏相符的成績")
    page.get_by_label("考生姓氏").fill(family)
    page.get_by_role("button", name="驗證").click()
    expect(page.locator("#verify-name")).to_have_text("美玲 王")
    screenshot(page, "verify-zh-TW")

    page.get_by_role("link", name="登出").click()
    ready(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("您已登出")
    screenshot(page, "logout-zh-TW")


@pytest.mark.parametrize("language", ["en", "zh-TW"])
def test_every_page_in_both_languages(page, system, language):
    page.context.add_init_script(f"localStorage.setItem('crs.language', '{language}')")
    for path, name in [("/", "home"), ("/register", "register"), ("/login", "login"),
                       ("/forgot-password", "forgot-password"), ("/reset-password", "reset-password-no-link"),
                       ("/reset-password?token=example", "reset-password"), ("/verify", "verify"),
                       ("/logout", "logout"), ("/no-such-page", "not-found")]:
        open_page(page, f"{system.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert page.title(), path
        # Every visible text came from the catalogue: no element that asks for one is left empty.
        empty = page.locator("[data-i18n]:visible").evaluate_all(
            "elements => elements.filter(e => !e.textContent.trim()).map(e => e.dataset.i18n)")
        assert empty == [], (path, empty)
        unlabelled = page.locator("input, select").evaluate_all(
            "elements => elements.filter(e => e.labels.length === 0).map(e => e.id || e.name)")
        assert unlabelled == [], (path, unlabelled)
        if name == "reset-password-no-link":
            expect(page.locator("#reset-missing")).to_be_visible()
        if name == "reset-password":
            expect(page.locator("#reset-form")).to_be_visible()
            expect(page).to_have_url(f"{system.url}/reset-password")
        screenshot(page, f"page-{name}-{language}")


def test_keyboard_order_and_skip_link(page, system):
    open_page(page, f"{system.url}/login")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert focused[:6] == ["Candidate Results Service", "English", "繁體中文", "Log in", "Register", "Verify a result"]
    assert focused[6:9] == ["candidate_id", "password", "Log in"]
    assert focused[9] == "Forgotten your password?"
