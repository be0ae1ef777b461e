"""`make up`'s first step, standard library only: writes `.env` from `.env.example` when it is
missing, giving every empty value a new random one, and (each time) writes RabbitMQ's users from
`.env` as boot-time definitions with salted hashes (var/compose/rabbitmq-users.json), so no password
is ever committed."""

import base64
import hashlib
import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, ENV = ROOT / ".env.example", ROOT / ".env"
USERS = ROOT / "var" / "compose" / "rabbitmq-users.json"


def fill_secrets(example: str) -> str:
    lines = []
    for line in example.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and not value.strip():
            line = f"{key}={secrets.token_urlsafe(32)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def read_env(text: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, _, value in pairs}


def rabbitmq_password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def users_definitions(env: dict[str, str]) -> dict:
    users = [(env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"], []),
             (env["RABBITMQ_ADMIN_USER"], env["RABBITMQ_ADMIN_PASSWORD"], ["administrator"])]
    for name, password, _ in users:
        if not name or not password:
            sys.exit(f"{ENV.name}: a RabbitMQ user name or password is empty")
    return {
        "vhosts": [{"name": "/"}],
        "users": [{"name": name, "password_hash": rabbitmq_password_hash(password),
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags}
                  for name, password, tags in users],
        "permissions": [{"user": name, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
                        for name, _, _ in users],
    }


def main() -> None:
    if not ENV.exists():
        ENV.write_text(fill_secrets(EXAMPLE.read_text()))
        ENV.chmod(0o600)
        print(f"wrote {ENV.name} from {EXAMPLE.name} with new random secrets")
    USERS.parent.mkdir(parents=True, exist_ok=True)
    USERS.write_text(json.dumps(users_definitions(read_env(ENV.read_text())), indent=2) + "\n")
    USERS.chmod(0o644)  # read by the broker's own user inside its container; holds salted hashes only


if __name__ == "__main__":
    main()
