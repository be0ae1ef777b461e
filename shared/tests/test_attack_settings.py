"""Attack on the database settings of issue 34: `gt=0` keeps out 0 and negatives, but pydantic
takes "inf" for a float. An infinite consumer budget makes every handler's database call raise
OverflowError (pymongo.timeout(inf): "timestamp out of range"), which is not an outage, so every
message uses up its deliveries and is dead-lettered; an infinite server selection crashes
create_client at startup with a traceback (int(inf))."""

import pytest
from pydantic import ValidationError

from crs_shared.config import DatabaseSettings


@pytest.mark.parametrize("variable", ["CONSUMER_DATABASE_BUDGET_SECONDS", "MONGODB_SERVER_SELECTION_SECONDS"])
def test_attack_an_infinite_budget_or_server_selection_is_refused_as_a_setting(variable, monkeypatch):
    monkeypatch.setenv(variable, "inf")
    with pytest.raises(ValidationError):
        DatabaseSettings()
