from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

from kofu.common.errors import InvalidInput, NotFound
from kofu.issuer.tenant import CertificateType, TenantDirectory, parse_tenant

from .factories import TENANT_TOML, kato


def test_parses_and_answers_fees_by_effective_date() -> None:
    t = kato()
    cert = t.certificate(CertificateType.JUMINHYO)
    assert cert is not None
    fee_before = cert.fee_on(date(2027, 3, 31))
    fee_after = cert.fee_on(date(2027, 4, 1))
    assert fee_before is not None and fee_before.convenience == 250
    assert fee_after is not None and fee_after.convenience == 200 and fee_after.window == 300
    assert cert.fee_on(date(2016, 12, 31)) is None


def test_offered_types_follow_their_start_dates() -> None:
    t = kato()
    assert CertificateType.SHOTOKU not in t.offered_types(date(2018, 5, 31))
    assert set(t.offered_types(date(2018, 6, 1))) == set(CertificateType)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (TENANT_TOML.replace('"282286"', '"282285"'), "check digit"),
        (TENANT_TOML.replace('open = "06:30"', 'open = "23:30"'), "must be before close"),
        (TENANT_TOML.replace('items = ["household_head", "honseki"]', 'items = ["juminhyo_code"]'), "juminhyo_code"),
        (TENANT_TOML.replace("copies_limit = 5", "copies_limit = 0"), "copies_limit"),
        (TENANT_TOML.replace("copies_limit = 5", "copies_limt = 5"), "copies_limt"),
        (TENANT_TOML.replace("end = 2026-12-06T05:00:00+09:00", "end = 2026-12-06T00:00:00+09:00"), "after start"),
        (
            TENANT_TOML + "\n[[certificates]]\ntype = 'inkan'\noffered=[{from=2017-02-01}]\n"
            "fees=[{from=2017-02-01,window=1,convenience=1}]\n",
            "only once",
        ),
        ("code = ", "not valid TOML"),
    ],
)
def test_bad_settings_say_what_is_wrong(bad: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_tenant(bad, source="282286.toml")


def test_directory_reloads_changed_file_and_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "282286.toml"
    path.write_text(TENANT_TOML, encoding="utf-8")
    directory = TenantDirectory(tmp_path)
    assert directory.get("282286").mayor_name == "加東　一郎"

    path.write_text(TENANT_TOML.replace("加東　一郎", "加東　次郎"), encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert directory.get("282286").mayor_name == "加東　次郎"

    path.write_text("code = broken", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert directory.get("282286").mayor_name == "加東　次郎"  # the last valid version keeps serving
    assert "not valid TOML" in directory.errors["282286"]


def test_unknown_tenant_and_mismatched_file_name(tmp_path: Path) -> None:
    (tmp_path / "281000.toml").write_text(TENANT_TOML, encoding="utf-8")
    directory = TenantDirectory(tmp_path)
    with pytest.raises(NotFound, match="does not match the file name"):
        directory.get("281000")
    with pytest.raises(NotFound, match="282286"):
        directory.get("282286")
