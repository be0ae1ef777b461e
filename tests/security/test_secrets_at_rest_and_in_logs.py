"""After a full run through the four real services (register -> log in -> lock -> reminder ->
reset -> log in -> log out, and a result published), no stored document in any of the four
databases and no log line of any of the four processes holds a password, a secret number, a reset
token or an access token; passwords are stored only as argon2id hashes, and those hashes are never
logged either."""

import asyncio
import json
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.security.conftest import new_candidate
from tests.support.direct_services import access_token, publish_result, register
from tests.support.system import SERVICES, link_in
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
WRONG_PASSWORD, NEW_PASSWORD = "wrong-guess-77x", "fresh-secret-99y"


def strings_in(value) -> list[str]:
    """Every string (keys too) anywhere inside a document or a parsed log line."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *strings_in(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


async def stored_documents(mongo_url: str, database: str) -> list[tuple[str, dict]]:
    client = AsyncMongoClient(mongo_url)
    try:
        db = client[database]
        return [(name, doc) for name in await db.list_collection_names() async for doc in db[name].find()]
    finally:
        await client.close()


async def test_no_secret_is_stored_or_logged_anywhere(services, security_vhost, security_smtp, mongo_url):
    candidate = new_candidate("K")
    await register(security_vhost, services, candidate)
    first_token = await access_token(services, candidate)
    await publish_result(security_vhost, services, candidate, first_token)
    async with httpx.AsyncClient(timeout=30) as http:
        auth = services.url("auth")
        login = {"candidate_id": candidate.candidate_id, "password": WRONG_PASSWORD}
        statuses = [(await http.post(f"{auth}/api/auth/login", json=login)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 423]
        assert (await http.post(f"{auth}/api/auth/password-reminder",
                                json={"candidate_id": candidate.candidate_id})).status_code == 202
        reset_mail = await wait_until(lambda: mails_with(security_smtp, candidate.email, "/reset-password"),
                                      timeout=30, what="the reset email")
        reset_token = parse_qs(urlparse(link_in(reset_mail, "/reset-password")).query)["token"][0]
        reset = await http.post(f"{auth}/api/auth/password-reset", json={
            "token": reset_token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
        assert reset.status_code == 204
        new_token = (await http.post(f"{auth}/api/auth/login", json={
            "candidate_id": candidate.candidate_id, "password": NEW_PASSWORD})).json()["access_token"]
        assert (await http.post(f"{auth}/api/auth/logout",
                                headers={"Authorization": f"Bearer {new_token}"})).status_code == 204
    # confirmation, results ready, lock notice, reset link, password changed
    await wait_until(lambda: asyncio.sleep(0, len(security_smtp.messages_to(candidate.email)) >= 5),
                     timeout=30, what="the candidate's five emails")

    # Outboxes hold an event only until the broker confirms it, and the notifier an email's link only
    # until it is sent: what is left once both are through is what is kept.
    secrets = {"password": candidate.password, "wrong password": WRONG_PASSWORD, "new password": NEW_PASSWORD,
               "reset token": reset_token, "first access token": first_token, "new access token": new_token}

    kept: list[str] = []

    async def nothing_kept() -> bool:
        kept.clear()
        for service in SERVICES:
            for collection, doc in await stored_documents(mongo_url, services.database(service)):
                values = strings_in(doc)
                kept.extend(f"the {name} in {service}.{collection}" for name, secret in secrets.items()
                            if any(secret in v for v in values))
                if candidate.secret_number in values:
                    kept.append(f"the secret number in {service}.{collection}")
        return not kept
    try:
        await wait_until(nothing_kept, timeout=10, what="no secret left in any database")
    except AssertionError:
        raise AssertionError(f"still stored: {kept}") from None

    documents = {name: await stored_documents(mongo_url, services.database(name)) for name in SERVICES}
    assert all(documents.values()), "each service should have stored something for this run"
    hashes = {s for docs in documents.values() for _, doc in docs for key, s in doc.items()
              if key == "password_hash" and isinstance(s, str)}
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)

    for service, log in services.logs().items():
        lines = log.splitlines()
        assert lines, f"{service} logged nothing"
        for name, secret in {**secrets, **{f"password hash {n}": h for n, h in enumerate(hashes)}}.items():
            assert secret not in log, f"{service} logged the {name}"
        for line in lines:
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            assert candidate.secret_number not in strings_in(parsed), f"{service} logged the secret number: {line}"


async def mails_with(smtp, address: str, path: str):
    for message in smtp.messages_to(address):
        if path in message.get_body(("plain",)).get_content():
            return message
    return None
