"""Small, explicit builders for issuer tests (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kofu.bench.tenant import KATO_TOML
from kofu.issuer.tenant import TenantSettings, parse_tenant
from kofu.registry.model import Resident, ResidentStatus, Sex

TENANT_TOML = KATO_TOML  # the tenant as a municipality runs it (hours, maintenance, a fee change)


def kato(**changes: object) -> TenantSettings:
    base = parse_tenant(TENANT_TOML)
    return base.model_copy(update=changes) if changes else base


def resident(**changes: object) -> Resident:
    base = Resident(
        tenant="282286",
        resident_id="R1",
        household_id="H1",
        name="加東　太郎",
        kana="かとう　たろう",
        birth_date=date(1980, 6, 15),
        sex=Sex.MALE,
        relationship="世帯主",
        address="兵庫県加東市社５０番地",
        honseki="兵庫県加東市社５０番地",
        hittosha="加東　太郎",
        became_resident_on=date(1980, 6, 15),
        address_since=date(2005, 4, 1),
        notified_on=date(2005, 4, 5),
        previous_address="兵庫県三木市本町１丁目１番",
        status=ResidentStatus.RESIDENT,
        my_number="123456789018",
    )
    return replace(base, **changes)  # type: ignore[arg-type]
