"""`auth-migrate`: creates the auth service's collections and indexes. Run before the service
starts (docs/mongodb.md)."""

from crs_shared.schema import migrate_command
from auth.handlers import SERVICE
from auth.repository import INDEXES


def main() -> None:
    migrate_command(SERVICE, INDEXES)
