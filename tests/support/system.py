"""The whole system as real processes: the four services and the gateway in front of them, with
emails linking to the gateway (PUBLIC_BASE_URL) and results verifying tokens with auth's JWKS."""

import re
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.support.gateway import GatewayProcess
from tests.support.stack import SERVICES, ServiceSet


class RunningSystem:
    def __init__(self, mongo_url: str, amqp_url: str, smtp_port: int, folder: Path, **env: str):
        """`env` goes to every service."""
        self.services = ServiceSet(mongo_url, amqp_url, smtp_port, folder, **env)
        self.gateway = GatewayProcess(
            {name: f"127.0.0.1:{self.services[name].port}" for name in ("registration", "auth", "results")}, folder)

    @property
    def url(self) -> str:
        return self.gateway.url

    def start(self) -> "RunningSystem":
        try:
            self.services.start(**{name: {"PUBLIC_BASE_URL": self.url} for name in SERVICES})
            self.gateway.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.gateway.stop()
        self.services.stop()

    def api_token(self, candidate_id: str, password: str) -> str:
        """Logs in straight at auth (not through the gateway and its rate limits)."""
        response = httpx.post(f"{self.services.url('auth')}/api/auth/login",
                              json={"candidate_id": candidate_id, "password": password})
        response.raise_for_status()
        return response.json()["access_token"]

    def released_results(self, token: str) -> list[dict]:
        response = httpx.get(f"{self.services.url('results')}/api/results/me",
                             headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()["results"]


def plain_text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """The first link in the email's text whose path starts with `path`."""
    match = re.search(rf"https?://[^\s<>\"]+{re.escape(path)}[^\s<>\"]*", plain_text(message))
    assert match, f"no link to {path} in:\n{plain_text(message)}"
    return match.group(0)
