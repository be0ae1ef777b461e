"""`results-migrate`: creates the results service's collections and indexes. Run before the service
starts (docs/mongodb.md)."""

from crs_shared.schema import migrate_command
from results.handlers import SERVICE
from results.repository import INDEXES


def main() -> None:
    migrate_command(SERVICE, INDEXES)
