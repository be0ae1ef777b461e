"""`registration-migrate`: creates the registration service's collections and indexes. Run before the service
starts (docs/mongodb.md)."""

from crs_shared.schema import migrate_command
from registration.handlers import SERVICE
from registration.repository import INDEXES


def main() -> None:
    migrate_command(SERVICE, INDEXES)
