"""What the broker holds for the system, in RabbitMQ's definitions format: the shared exchange, the
policies that give the services' queues their dead-lettering and delivery limit, and each
account's rights. Standard library only: `make up` (deploy/compose/prepare_env.py) imports it
before anything is installed.

One naming rule gives every right: all a service owns on the broker starts with `<service>.`:
its queues `<service>.<routing key>`, their dead-letter queues `<queue>.dlq` and its dead-letter
exchange `<service>.dlx`. The only thing services share is the exchange `exams.events`, which
these definitions declare and nobody else may configure.

Dead-lettering and the delivery limit are policies, not queue arguments: a queue keeps the
arguments it was declared with, so changing them would make its next declaration fail; a policy
changes on the broker and applies to the queues at once."""

import base64
import hashlib
import json
import re
import secrets

EXCHANGE = "exams.events"
SERVICES = ("registration", "auth", "results", "notifier")
# The only events an exam board publishes (contract section 6).
BOARD_ROUTING_KEYS = ("entries.published", "results.published")
# Returns of a message to a service's queue (a consumer's nack) after which the broker dead-letters
# it at the next: a message that keeps failing is tried DELIVERY_LIMIT + 1 times.
DELIVERY_LIMIT = 5
NOTHING = "^$"


def queue_name(service: str, routing_key: str) -> str:
    return f"{service}.{routing_key}"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


def dead_letter_exchange(service: str) -> str:
    """The service's own: its queues' dead letters keep their routing key, which names one of its queues."""
    return f"{service}.dlx"


def service_user(service: str) -> str:
    return f"crs-{service}"


def _owned_by(service: str) -> str:
    return re.escape(f"{service}.") + ".*"


def policies(vhost: str, delivery_limit: int = DELIVERY_LIMIT) -> list[dict]:
    """One policy a service: its queues dead-letter to its exchange, and past `delivery_limit` returns.
    Its dead-letter queues are left out: a dead letter stays where it is until someone moves it."""
    return [{"vhost": vhost, "name": f"crs-{service}-queues", "pattern": f"^{_owned_by(service)}(?<!\\.dlq)$",
             "apply-to": "queues", "priority": 0,
             "definition": {"dead-letter-exchange": dead_letter_exchange(service), "delivery-limit": delivery_limit}}
            for service in SERVICES]


def topology(vhost: str = "/", delivery_limit: int = DELIVERY_LIMIT) -> dict:
    """The vhost, the shared exchange and the policies; the services declare their own queues."""
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [{"name": EXCHANGE, "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}}],
        "policies": policies(vhost, delivery_limit),
    }


def service_permissions(service: str, vhost: str) -> dict:
    """Configure its own; publish to the exchange; bind its queues to the exchange and consume them.
    No right on another service's queues, and none to change the shared exchange."""
    own_or_exchange = f"^({_owned_by(service)}|{re.escape(EXCHANGE)})$"
    return {"user": service_user(service), "vhost": vhost, "configure": f"^{_owned_by(service)}$",
            "write": own_or_exchange, "read": own_or_exchange}


def board_rights(user: str, vhost: str) -> tuple[dict, dict]:
    """Publish to the exchange, only the board's own events; nothing to declare, bind or read."""
    keys = "|".join(re.escape(key) for key in BOARD_ROUTING_KEYS)
    return ({"user": user, "vhost": vhost, "configure": NOTHING, "write": f"^{re.escape(EXCHANGE)}$", "read": NOTHING},
            {"user": user, "vhost": vhost, "exchange": EXCHANGE, "write": f"^({keys})$", "read": NOTHING})


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def user(name: str, password: str, tags: tuple[str, ...] = ()) -> dict:
    return {"name": name, "password_hash": password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": list(tags)}


def accounts(vhost: str, service_passwords: dict[str, str], board_passwords: dict[str, str],
             administrators: dict[str, str] | None = None) -> dict:
    """Users with their rights: one a service (`crs-<service>`), one an exam board (its user name
    given), and administrators (the management UI) with every right."""
    administrators = administrators or {}
    boards = [board_rights(name, vhost) for name in board_passwords]
    return {
        "users": [user(service_user(s), p) for s, p in service_passwords.items()]
                 + [user(name, p) for name, p in board_passwords.items()]
                 + [user(name, p, ("administrator",)) for name, p in administrators.items()],
        "permissions": [service_permissions(s, vhost) for s in service_passwords]
                       + [permissions for permissions, _ in boards]
                       + [{"user": name, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
                          for name in administrators],
        "topic_permissions": [topic for _, topic in boards],
    }


if __name__ == "__main__":  # writes deploy/rabbitmq/definitions.json
    print(json.dumps(topology(), indent=2))
