"""The demo tenant TOML files: valid settings with the fees of DOMAIN.md §1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kofu.common.lgcode import with_check_digit
from kofu.demo.places import MUNICIPALITIES
from kofu.demo.tenants import MAIN_TENANT, install_tenants, load_tenants, tenant_files
from kofu.issuer.tenant import KISAI_ITEMS, CertificateType, IssuanceKind, Stage, TenantDirectory, parse_tenant

# DOMAIN.md §1: Hyogo municipalities in 2016 (window / convenience, yen)
FEES = {
    "神戸市": (300, 250),
    "尼崎市": (300, 200),
    "西宮市": (300, 200),
    "伊丹市": (300, 300),
    "宝塚市": (300, 200),
    "川西市": (300, 150),
    "猪名川町": (300, 200),
    "加古川市": (300, 300),
    "播磨町": (300, 200),
    "三木市": (300, 250),
    "小野市": (250, 250),
    "加西市": (300, 250),
    "加東市": (300, 250),
    "姫路市": (300, 200),
    "たつの市": (300, 300),
    "宍粟市": (300, 300),
    "太子町": (300, 300),
    "淡路市": (300, 200),
}
CODES = {
    "神戸市": "28100",
    "姫路市": "28201",
    "尼崎市": "28202",
    "西宮市": "28204",
    "伊丹市": "28207",
    "加古川市": "28210",
    "宝塚市": "28214",
    "三木市": "28215",
    "川西市": "28217",
    "小野市": "28218",
    "加西市": "28220",
    "淡路市": "28226",
    "宍粟市": "28227",
    "加東市": "28228",
    "たつの市": "28229",
    "猪名川町": "28301",
    "播磨町": "28382",
    "太子町": "28464",
}


def test_every_municipality_of_domain_section_1_is_a_tenant() -> None:
    tenants = load_tenants()
    assert sorted(t.name for t in tenants) == sorted(FEES)
    assert [code for code, _ in tenant_files()] == sorted(with_check_digit(c) for c in CODES.values())


@pytest.mark.parametrize(("code", "text"), tenant_files())
def test_tenant_file(code: str, text: str) -> None:
    t = parse_tenant(text, source=code)
    assert t.code == code == with_check_digit(CODES[t.name])
    assert code in MUNICIPALITIES  # the generator knows its towns
    assert t.mayor_title == f"{t.name}長"
    assert t.mayor_name and "\u3000" in t.mayor_name
    assert t.stage is Stage.LIVE
    assert t.official_seal is None
    assert t.population and t.population > 10_000
    assert (t.hours.open, t.hours.close, t.hours.days) == ("06:30", "23:00", "all")
    assert t.copies_limit == 10
    window, convenience = FEES[t.name]
    start = t.service_start
    assert set(t.offered_types(start)) == set(CertificateType)
    for ctype in CertificateType:
        cert = t.certificate(ctype)
        assert cert is not None
        fee = cert.fee_on(date(2026, 4, 1))
        assert fee is not None and (fee.window, fee.convenience) == (window, convenience)
    juminhyo = t.certificate(CertificateType.JUMINHYO)
    kisai = t.certificate(CertificateType.KISAI)
    shotoku = t.certificate(CertificateType.SHOTOKU)
    assert juminhyo and kisai and shotoku
    assert juminhyo.items == ("household_head", "honseki", "my_number")
    assert juminhyo.kinds == (IssuanceKind.SELF, IssuanceKind.HOUSEHOLD, IssuanceKind.MEMBERS)
    assert kisai.items == KISAI_ITEMS
    assert shotoku.fiscal_years_back in (0, 1)


def test_kato_city() -> None:
    kato = next(t for t in load_tenants() if t.code == MAIN_TENANT)
    assert kato.name == "加東市" and kato.code == "282286"
    assert kato.service_start == date(2017, 2, 1)
    assert kato.costs["build"] == 6_372_000 and kato.costs["environment"] == 5_378_400
    assert kato.costs["yearly"] > 0
    juminhyo = kato.certificate(CertificateType.JUMINHYO)
    assert juminhyo is not None
    before = juminhyo.fee_on(date(2027, 3, 31))
    after = juminhyo.fee_on(date(2027, 4, 1))
    assert before is not None and (before.window, before.convenience) == (300, 250)
    assert after is not None and (after.window, after.convenience) == (300, 200)
    assert juminhyo.fee_on(date(2017, 1, 31)) is None


def test_install_is_idempotent(tmp_path: Path) -> None:
    paths = install_tenants(tmp_path)
    assert len(paths) == len(FEES)
    mtimes = [p.stat().st_mtime_ns for p in paths]
    install_tenants(tmp_path)
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
    directory = TenantDirectory(tmp_path)
    assert len(directory.all()) == len(FEES) and not directory.errors
