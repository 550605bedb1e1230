import pytest

from kofu.common.errors import InvalidInput
from kofu.common.lgcode import validate, with_check_digit


@pytest.mark.parametrize(
    ("five", "six"),
    [("28228", "282286"), ("28100", "281000"), ("13101", "131016"), ("01100", "011002"), ("28215", "282154")],
)
def test_known_codes(five: str, six: str) -> None:
    # 加東市 282286, 神戸市 281000, 千代田区 131016, 札幌市 011002, 三木市 282154
    assert with_check_digit(five) == six
    assert validate(six) == six


def test_wrong_check_digit_says_which() -> None:
    with pytest.raises(InvalidInput, match="expected 6"):
        validate("282285")


@pytest.mark.parametrize("bad", ["28228", "2822866", "28228a", "", "992286"])
def test_malformed(bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate(bad if bad != "992286" else with_check_digit("99228"))
