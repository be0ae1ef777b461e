from crs_shared.domain.password_policy import is_common, violations


def codes(password: str) -> set[str]:
    return {v.code for v in violations(password)}


def test_a_good_password_breaks_no_rule():
    assert violations("abcdef12") == []
    assert violations("密碼測試abcdef12") == []


def test_each_rule_is_reported_on_its_own():
    assert codes("xqz17") == {"password_too_short", "password_too_few_letters"}
    assert codes("abcdefgh1") == {"password_too_few_digits"}
    assert codes("48201937q") == {"password_too_few_letters"}
    assert codes("a1" * 65) == {"password_too_long"}


def test_the_length_limits_are_inclusive():
    assert "password_too_short" not in codes("abcdef12")
    assert "password_too_short" in codes("abcde12")
    assert "password_too_long" not in codes("ab" * 63 + "12")
    assert "password_too_long" in codes("ab" * 63 + "123")


def test_common_passwords_are_refused_whatever_their_case():
    assert is_common("password12") and is_common("PASSWORD12")
    assert codes("password12") == {"password_too_common"}
    assert not is_common("abcdef12")  # rank 24,064: beyond the cut-off
