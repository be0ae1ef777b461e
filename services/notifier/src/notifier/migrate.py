"""`notifier-migrate`: creates the notifier's collections and indexes, then brings data of older
notifiers in line (`NotifierRepository.upgrade`). Run before the service starts (docs/mongodb.md)."""

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from crs_shared.schema import migrate_command
from notifier.handlers import SERVICE
from notifier.repository import INDEXES, NotifierRepository


async def upgrade(db: AsyncDatabase, now: datetime) -> None:
    await NotifierRepository(db).upgrade(now)


def main() -> None:
    migrate_command(SERVICE, INDEXES, upgrade)
