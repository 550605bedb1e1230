"""Figures published in the original document (Kato City committee paper, 2016-10-06), and the
fee-policy classification of its 資料3/4.

別添資料5 (三木市のコンビニ交付実績): convenience issuance in Miki City per fiscal year, with its share of
all issuance of the type (交付率, %, two decimals) and the cards issued with their share of the
population (%, as printed: one decimal or none).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from kofu.issuer.tenant import CertificateType, TenantSettings


@dataclass(frozen=True)
class PublishedRow:
    fiscal_year: int  # Western fiscal year: 平成23年度 = 2011
    count: int
    percent: Decimal  # as printed


# 別添資料5, 平成23–27年度
MIKI_JUMINHYO = (
    PublishedRow(2011, 742, Decimal("2.39")),
    PublishedRow(2012, 1119, Decimal("3.59")),
    PublishedRow(2013, 1869, Decimal("5.22")),
    PublishedRow(2014, 2679, Decimal("9.37")),
    PublishedRow(2015, 3781, Decimal("11.69")),
)
MIKI_INKAN = (
    PublishedRow(2011, 750, Decimal("2.44")),
    PublishedRow(2012, 1284, Decimal("4.29")),
    PublishedRow(2013, 1661, Decimal("5.68")),
    PublishedRow(2014, 2894, Decimal("13.52")),
    PublishedRow(2015, 4086, Decimal("15.14")),
)
MIKI_CARDS = (  # 住基カード発行枚数 and its share of the population
    PublishedRow(2011, 11743, Decimal("14.5")),
    PublishedRow(2012, 13417, Decimal("16.6")),
    PublishedRow(2013, 15164, Decimal("18.8")),
    PublishedRow(2014, 16949, Decimal("21")),
    PublishedRow(2015, 17790, Decimal("22")),
)
MIKI_OFFICE_HOURS_SHARE = Decimal("0.50")  # 業務時間内 50% / 休日・時間外 50%
MIKI_OUT_OF_CITY_SHARE = Decimal("0.24")  # 市外のコンビニで取得 24%


def percent(count: int, total: int, places: int) -> Decimal:
    """count / total in percent, rounded half-up to `places` decimals (as a spreadsheet prints it)."""
    q = Decimal(1).scaleb(-places)
    return (Decimal(count) * 100 / Decimal(total)).quantize(q, rounding="ROUND_HALF_UP")


def totals_consistent(row: PublishedRow) -> range:
    """Every total T for which count/T, rounded like the printed percentage, gives the printed figure.
    Empty if the published count and percentage cannot both be right."""
    places = max(0, -int(row.percent.as_tuple().exponent))
    half = Decimal(5).scaleb(-places - 1)
    low = row.percent - half  # the true percentage lies in [low, high)
    high = row.percent + half
    t_min = int(Decimal(row.count) * 100 / high) + 1 if high > 0 else 1
    t_max = int(Decimal(row.count) * 100 / low) if low > 0 else row.count * 10**6
    return range(max(t_min - 1, 1), t_max + 2)  # widened by one, then filtered below


def derived_totals(row: PublishedRow) -> list[int]:
    places = max(0, -int(row.percent.as_tuple().exponent))
    return [total for total in totals_consistent(row) if percent(row.count, total, places) == row.percent]


def derived_total(row: PublishedRow) -> int:
    """The total the published share implies (count / share, rounded), checked to reproduce the share."""
    places = max(0, -int(row.percent.as_tuple().exponent))
    total = int((Decimal(row.count) * 100 / row.percent).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    if percent(row.count, total, places) != row.percent:
        candidates = derived_totals(row)
        if not candidates:
            raise ValueError(f"{row}: no total reproduces the published percentage")
        total = min(candidates, key=lambda c: abs(c - total))
    return total


class FeePolicy(StrEnum):
    CHEAPER = "cheaper"  # 窓口手数料と差別化している
    SAME_LOW = "same_low"  # 差別化はしていないが、窓口手数料が250円(通)以下
    SAME = "same"  # 窓口と同じ手数料

    @property
    def title_ja(self) -> str:
        return {
            FeePolicy.CHEAPER: "窓口手数料と差別化している自治体",
            FeePolicy.SAME_LOW: "差別化はしていないが、窓口手数料が250円(通)以下である自治体",
            FeePolicy.SAME: "窓口と同じ手数料としている自治体",
        }[self]


# 資料4: nationwide, 250 municipalities
NATIONWIDE_FEE_POLICY = {FeePolicy.CHEAPER: 110, FeePolicy.SAME_LOW: 52, FeePolicy.SAME: 88}


def classify_fees(window: int, convenience: int) -> FeePolicy:
    if convenience < window:
        return FeePolicy.CHEAPER
    return FeePolicy.SAME_LOW if window <= 250 else FeePolicy.SAME


@dataclass(frozen=True)
class TenantFeePolicy:
    code: str
    name: str
    window: int
    convenience: int
    policy: FeePolicy


def classify_tenants(tenants: list[TenantSettings]) -> list[TenantFeePolicy]:
    """Each tenant's policy on the fees for 住民票の写し in force when its service started (as in 資料3)."""
    out = []
    for tenant in tenants:
        cert = tenant.certificate(CertificateType.JUMINHYO)
        if cert is None:
            continue
        fee = cert.fee_on(tenant.service_start) or cert.fees[0]
        out.append(
            TenantFeePolicy(
                tenant.code, tenant.name, fee.window, fee.convenience, classify_fees(fee.window, fee.convenience)
            )
        )
    return out
