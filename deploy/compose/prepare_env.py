"""`make up`'s first step, standard library only: writes `.env` from `.env.example` when it is
missing, giving every empty value a new random one, and (each time) writes RabbitMQ's accounts from
`.env` as boot-time definitions with salted hashes (var/compose/rabbitmq-users.json), so no password
is ever committed: a user per service, one per exam board (each RABBITMQ_BOARD_<NAME>_PASSWORD
makes the publish-only user board-<name>) and the management UI's administrator.

`prepare_env.py ENV_FILE OUTPUT` writes the accounts of another env file (a Kubernetes
deployment's, docs/operations.md) and touches nothing else."""

import json
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared" / "src"))
from crs_shared.messaging import definitions  # noqa: E402  (standard library only, from the source tree)

EXAMPLE, ENV = ROOT / ".env.example", ROOT / ".env"
USERS = ROOT / "var" / "compose" / "rabbitmq-users.json"
BOARD_PASSWORD = re.compile(r"RABBITMQ_BOARD_([A-Z0-9_]+)_PASSWORD")


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


def service_password_variable(service: str) -> str:
    return f"RABBITMQ_{service.upper()}_PASSWORD"


def board_user(variable: str) -> str | None:
    """RABBITMQ_BOARD_<NAME>_PASSWORD -> board-<name>; None for any other variable."""
    match = BOARD_PASSWORD.fullmatch(variable)
    return f"board-{match[1].lower().replace('_', '-')}" if match else None


def users_definitions(env: dict[str, str], env_name: str = ENV.name) -> dict:
    """The accounts, or the process ends saying which setting is missing or empty."""
    needed = [*map(service_password_variable, definitions.SERVICES), "RABBITMQ_ADMIN_USER", "RABBITMQ_ADMIN_PASSWORD"]
    if missing := [key for key in needed if not env.get(key)]:
        sys.exit(f"{env_name}: {', '.join(missing)} missing or empty: RabbitMQ has a user per service (see "
                 f"{EXAMPLE.name}); give each a password, e.g. with: "
                 "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    boards = {user: password for key, password in env.items() if (user := board_user(key))}
    if empty := [user for user, password in boards.items() if not password]:
        sys.exit(f"{env_name}: the password of the exam board account {', '.join(empty)} is empty")
    return {"vhosts": [{"name": "/"}], **definitions.accounts(
        "/", {s: env[service_password_variable(s)] for s in definitions.SERVICES}, boards,
        {env["RABBITMQ_ADMIN_USER"]: env["RABBITMQ_ADMIN_PASSWORD"]})}


def write_users(env_file: Path, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(users_definitions(read_env(env_file.read_text()), env_file.name), indent=2) + "\n")
    output.chmod(0o644)  # read by the broker's own user inside its container; holds salted hashes only


def main() -> None:
    if len(sys.argv) == 3:
        write_users(Path(sys.argv[1]), Path(sys.argv[2]))
        return
    if not ENV.exists():
        ENV.write_text(fill_secrets(EXAMPLE.read_text()))
        ENV.chmod(0o600)
        print(f"wrote {ENV.name} from {EXAMPLE.name} with new random secrets")
    write_users(ENV, USERS)


if __name__ == "__main__":
    main()
