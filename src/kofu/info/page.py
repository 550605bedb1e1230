"""What the public service page says about one municipality, from its tenant settings on a given day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kofu.info.i18n import N_
from kofu.issuer.tenant import CertificateType, TenantSettings

TYPE_NAMES: dict[str, str] = {
    "juminhyo": N_("Certificate of residence"),
    "kisai": N_("Certificate of resident record items"),
    "inkan": N_("Certificate of seal registration"),
    "shotoku": N_("Income certificate"),
}


@dataclass(frozen=True)
class Offer:
    type: str
    title_ja: str
    convenience_fee: int
    window_fee: int
    open: str
    close: str
    days: str  # all · weekdays
    own_hours: bool  # hours differ from the municipality's

    @property
    def saving(self) -> int:
        return self.window_fee - self.convenience_fee


@dataclass(frozen=True)
class ServicePage:
    code: str
    name_ja: str
    name_en: str
    live: bool
    card_app: bool
    open: str
    close: str
    days: str
    closed_new_year: bool
    maintenance: list[tuple[str, str]]
    offers: list[Offer]
    fiscal_years_back: int | None  # 所得証明書: years before the current one, None when not offered


def service_page(t: TenantSettings, day: date) -> ServicePage:
    offers: list[Offer] = []
    fiscal: int | None = None
    for c in t.certificates:
        fee = c.fee_on(day)
        if not c.offered_on(day) or fee is None:
            continue
        hours = c.hours or t.hours
        offers.append(
            Offer(
                type=c.type.value,
                title_ja=CertificateType(c.type).title_ja,
                convenience_fee=fee.convenience,
                window_fee=fee.window,
                open=hours.open,
                close=hours.close,
                days=hours.days,
                own_hours=c.hours is not None and c.hours != t.hours,
            )
        )
        if c.type is CertificateType.SHOTOKU:
            fiscal = c.fiscal_years_back
    return ServicePage(
        code=t.code,
        name_ja=t.name,
        name_en=t.name_en or t.code,
        live=str(t.stage) == "live" and t.service_start <= day,
        card_app=t.card_method in ("card-app", "both"),
        open=t.hours.open,
        close=t.hours.close,
        days=t.hours.days,
        closed_new_year=t.closed_new_year,
        maintenance=[
            (m.start.strftime("%Y-%m-%d %H:%M"), m.end.strftime("%Y-%m-%d %H:%M"))
            for m in t.maintenance
            if m.end.date() >= day
        ],
        offers=offers,
        fiscal_years_back=fiscal,
    )
