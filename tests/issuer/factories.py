"""Small, explicit builders for issuer tests (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kofu.issuer.tenant import TenantSettings, parse_tenant
from kofu.registry.model import Resident, ResidentStatus, Sex

TENANT_TOML = """
code = "282286"
name = "加東市"
name_en = "Kato City"
prefecture = "兵庫県"
mayor_title = "加東市長"
mayor_name = "加東　一郎"
stage = "live"
service_start = 2017-02-01
copies_limit = 5

[hours]
open = "06:30"
close = "23:00"

[[maintenance]]
start = 2026-12-06T01:00:00+09:00
end = 2026-12-06T05:00:00+09:00

[[certificates]]
type = "juminhyo"
offered = [{ from = 2017-02-01 }]
fees = [{ from = 2017-02-01, window = 300, convenience = 250 }, { from = 2027-04-01, window = 300, convenience = 200 }]
items = ["household_head", "honseki"]
kinds = ["self", "household", "members"]

[[certificates]]
type = "kisai"
offered = [{ from = 2017-02-01 }]
fees = [{ from = 2017-02-01, window = 300, convenience = 250 }]
items = ["birth_date", "sex", "address", "household_head"]

[[certificates]]
type = "inkan"
offered = [{ from = 2017-02-01 }]
fees = [{ from = 2017-02-01, window = 300, convenience = 250 }]

[[certificates]]
type = "shotoku"
offered = [{ from = 2018-06-01 }]
fees = [{ from = 2018-06-01, window = 300, convenience = 250 }]
hours = { open = "09:00", close = "17:00", days = "weekdays" }
fiscal_years_back = 1
"""


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
