from results.domain.verification import (
    ALPHABET, canonical_verification_number, family_names_match, new_verification_number,
)


def test_numbers_are_twelve_unambiguous_characters_in_groups_of_four():
    numbers = {new_verification_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        groups = number.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(ALPHABET)
    assert not set("01IO") & set(ALPHABET) and len(ALPHABET) == 32  # 60 bits a number


def test_every_letter_turns_up_at_every_position():
    # 2,000 numbers put each letter about 62 times at each place: a missing one means stuck bits.
    compact = [new_verification_number().replace("-", "") for _ in range(2000)]
    for position in range(12):
        assert {number[position] for number in compact} == set(ALPHABET), position


def test_a_number_is_found_however_it_was_typed():
    assert canonical_verification_number("7kq2 m9xh 4tre") == "7KQ2-M9XH-4TRE"
    assert canonical_verification_number("7KQ2M9XH4TRE") == "7KQ2-M9XH-4TRE"
    assert canonical_verification_number(" 7KQ2-M9XH-4TRE ") == "7KQ2-M9XH-4TRE"


def test_what_cannot_be_a_number_is_refused():
    for given in ("", "7KQ2-M9XH-4TR", "7KQ2-M9XH-4TRE5", "0KQ2-M9XH-4TRE", "7KQ2-M9XH-4TR!", '{"$ne": ""}', "७KQ2M9XH4TRE"):
        assert canonical_verification_number(given) is None, given


def test_family_names_match_in_any_case_and_spacing():
    assert family_names_match("van der Berg", "  VAN  der berg ")
    assert family_names_match("Müller", "MÜLLER")
    assert family_names_match("陳", "陳")
    assert not family_names_match("Chen", "Cheng")
    assert not family_names_match("Chen", "")
    assert not family_names_match("Chen", "   ")
