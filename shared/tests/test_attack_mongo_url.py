"""Attacks on the production check of MONGODB_URL (issue 34)."""

import pytest

from crs_shared.mongo import mongodb_url_problems

# Options whose value the driver refuses with ValueError rather than ConfigurationError.
UNREADABLE = ["readPreference=PRIMARY", "retrywrites=False", "journal=0", "w=-1", "directConnection=TRUE"]


@pytest.mark.parametrize("option", UNREADABLE)
def test_attack_an_option_value_the_driver_refuses_is_a_problem_not_an_exception(option):
    # mongodb_url_problems promises a list of problems ("options the MongoDB driver cannot read"),
    # but catches only InvalidURI and ConfigurationError: these raise ValueError out of it, so
    # production's refusal loses its MONGODB_URL wording and a dev service dies in create_client.
    problems = mongodb_url_problems(f"mongodb://db1,db2,db3/?replicaSet=rs0&{option}")
    assert problems and "MONGODB_URL" in problems[0]


def test_attack_a_write_concern_timeout_of_one_millisecond_is_refused_in_production():
    # w=majority with wtimeoutMS=1: nearly every non-transactional write on a replica set comes
    # back as a write-concern timeout although applied (a 503, a handler run again).
    assert mongodb_url_problems("mongodb://db1,db2,db3/?replicaSet=rs0&wtimeoutMS=1")
