import uuid
from datetime import UTC, datetime

import pytest

from crs_shared.messaging.contracts import CandidateRegistered
from crs_shared.mongo import create_client
from notifier.config import Settings
from notifier.main import create_app
from tests.support.apps import fast_settings, serving


def registered(language: str = "en", **overrides) -> CandidateRegistered:
    candidate_id = "N" + uuid.uuid4().hex[:8].upper()
    fields = dict(candidate_id=candidate_id, email=f"{candidate_id.lower()}@example.com", given_name="Amy",
                  family_name="Chen", language=language, password_hash="$argon2id$v=19$m=19456,t=2,p=1$x$y",
                  registered_at=datetime.now(UTC))
    return CandidateRegistered(**(fields | overrides))


@pytest.fixture
def settings(mongo_url, amqp_url, smtp) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "notifier", smtp_port=smtp.port, dispatch_poll_seconds=0.1,
                         send_retry_base_seconds=0.2, send_retry_max_seconds=1.0)


@pytest.fixture
async def notifier(settings):
    app = create_app(settings)
    async with serving(app) as http:
        http.app = app
        yield http


async def all_sent(mongo_url: str, database_name: str) -> bool:
    """Whether a notifier database (of a notifier process) holds no email left to send."""
    client = create_client(mongo_url)
    try:
        return await client[database_name]["notifications"].count_documents({"status": {"$ne": "sent"}}) == 0
    finally:
        await client.close()
