from registration.domain.secret_number import secret_digest, secret_matches


def test_the_digest_is_keyed_and_bound_to_the_candidate():
    digest = secret_digest("key", "123456", "4821")
    assert "4821" not in digest
    assert digest != secret_digest("other-key", "123456", "4821")
    assert digest != secret_digest("key", "123457", "4821")
    assert digest == secret_digest("key", "123456".lower(), "4821")


def test_matching():
    stored = secret_digest("key", "SIR094701", "0042")
    assert secret_matches("key", "SIR094701", "0042", stored)
    assert not secret_matches("key", "SIR094701", "0043", stored)
    assert not secret_matches("key", "SIR094701", "0042", None)
