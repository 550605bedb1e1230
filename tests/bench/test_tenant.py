"""The shared test and benchmark tenant: the municipal one keeps its hours, the always-open one never closes."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kofu.bench.tenant import ALWAYS_OPEN_TOML, KATO_TOML, TENANT
from kofu.common.clock import JST
from kofu.issuer.eligibility import check_service
from kofu.issuer.tenant import CertificateType, parse_tenant

MOMENTS = [
    datetime(2026, 12, 6, 3, 0, tzinfo=JST),  # in KATO's maintenance window, and a Sunday
    datetime(2027, 1, 2, 12, 0, tzinfo=JST),  # New Year closure
    datetime(2026, 11, 26, 23, 30, tzinfo=JST),  # after 23:00
    datetime(2026, 11, 26, 0, 0, tzinfo=JST),  # midnight
    datetime(2026, 11, 28, 10, 0, tzinfo=JST),  # a Saturday (income certificate: weekdays only)
]


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.isoformat())
def test_the_always_open_tenant_serves_every_type_at_any_hour(moment: datetime) -> None:
    tenant = parse_tenant(ALWAYS_OPEN_TOML)
    assert tenant.code == TENANT
    for ctype in CertificateType:
        assert check_service(tenant, ctype, moment) == [], (ctype, moment)


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.isoformat())
def test_the_municipal_tenant_refuses_the_same_moments(moment: datetime) -> None:
    tenant = parse_tenant(KATO_TOML)
    refused = [ctype for ctype in CertificateType if check_service(tenant, ctype, moment)]
    assert CertificateType.SHOTOKU in refused  # outside every window above, the income certificate at least


def _convenience_fee(toml: str, ctype: CertificateType, day: date) -> int | None:
    cert = parse_tenant(toml).certificate(ctype)
    fee = cert.fee_on(day) if cert is not None else None
    return fee.convenience if fee is not None else None


def test_both_are_the_same_tenant_but_for_the_calendar_and_the_fee_change() -> None:
    kato, open_ = parse_tenant(KATO_TOML), parse_tenant(ALWAYS_OPEN_TOML)
    assert (kato.name, kato.mayor_name, kato.copies_limit) == (open_.name, open_.mayor_name, open_.copies_limit)
    assert [c.type for c in kato.certificates] == [c.type for c in open_.certificates] == list(CertificateType)
    assert not open_.maintenance and kato.maintenance
    juminhyo, later = CertificateType.JUMINHYO, date(2027, 4, 1)
    assert _convenience_fee(KATO_TOML, juminhyo, later) == 200
    assert _convenience_fee(ALWAYS_OPEN_TOML, juminhyo, later) == 250  # a benchmark's price does not move
