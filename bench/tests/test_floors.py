from bench.floors import on_both_sides


def test_floors_before_and_after_a_run_count_as_one_measurement_of_their_joint_seconds():
    before = {"workers": 2, "verifications": 520, "seconds": 5.0, "per_second": 104.0, "type": "argon2id"}
    after = {"workers": 2, "verifications": 440, "seconds": 5.0, "per_second": 88.0, "type": "argon2id"}
    floor = on_both_sides(before, after)
    assert floor["verifications"] == 960 and floor["seconds"] == 10.0 and floor["per_second"] == 96.0
    assert (floor["per_second_before"], floor["per_second_after"]) == (104.0, 88.0)
    assert floor["workers"] == 2 and floor["type"] == "argon2id"
