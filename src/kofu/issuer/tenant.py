"""Tenant (municipality) settings: one TOML file per tenant, validated, effective-dated, reloadable.

A municipality's choices — fees, offered certificates, hours, items, copies — live here, never in code.
Fees and offered types carry effective dates because they change by ordinance on a set day.
See docs/tenants.md for the file format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kofu.common import lgcode
from kofu.common.errors import InvalidInput, NotFound


class CertificateType(StrEnum):
    JUMINHYO = "juminhyo"  # 住民票の写し
    KISAI = "kisai"  # 住民票記載事項証明書
    INKAN = "inkan"  # 印鑑登録証明書
    SHOTOKU = "shotoku"  # 所得証明書

    @property
    def title_ja(self) -> str:
        return CERTIFICATE_TITLES[self]


CERTIFICATE_TITLES: dict[CertificateType, str] = {
    CertificateType.JUMINHYO: "住民票の写し",
    CertificateType.KISAI: "住民票記載事項証明書",
    CertificateType.INKAN: "印鑑登録証明書",
    CertificateType.SHOTOKU: "所得証明書",
}


class Stage(StrEnum):
    SETUP = "setup"  # 証明発行サーバ構築中: nothing is served
    TEST = "test"  # 連携テスト / システム確認試験: only test residents (test cards, test kiosks)
    LIVE = "live"  # サービス開始 from service_start


class IssuanceKind(StrEnum):
    SELF = "self"  # 本人のみ
    HOUSEHOLD = "household"  # 世帯全員
    MEMBERS = "members"  # 世帯の一部


# Optional printed items (記載事項). For 住民票の写し they switch extra items on; for 記載事項証明書 the
# chosen items are the only ones certified (氏名 always).
JUMINHYO_OPTIONAL_ITEMS = ("household_head", "honseki", "my_number")
KISAI_ITEMS = (
    "birth_date",
    "sex",
    "address",
    "household_head",
    "honseki",
    "became_resident_on",
    "address_since",
    "notified_on",
    "previous_address",
    "my_number",
)
ITEM_LABELS_JA: dict[str, str] = {
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
    "household_head": "世帯主の氏名及び続柄",
    "honseki": "本籍及び筆頭者",
    "became_resident_on": "住民となった年月日",
    "address_since": "住所を定めた年月日",
    "notified_on": "届出年月日",
    "previous_address": "従前の住所",
    "my_number": "個人番号",
}

_HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]


def _parse_hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(23, 59) if int(h) == 24 else time(int(h), int(m))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hours(_Strict):
    open: _HHMM = "06:30"
    close: _HHMM = "23:00"
    days: Literal["all", "weekdays"] = "all"  # weekdays = Mon–Fri except national holidays

    @property
    def open_time(self) -> time:
        return _parse_hhmm(self.open)

    @property
    def close_minutes(self) -> int:
        h, m = self.close.split(":")
        return int(h) * 60 + int(m)

    @model_validator(mode="after")
    def _order(self) -> Hours:
        o = self.open_time
        if o.hour * 60 + o.minute >= self.close_minutes:
            raise ValueError(f"hours: open {self.open} must be before close {self.close}")
        return self


class FeePeriod(_Strict):
    """Fees by ordinance from a date on (手数料条例)."""

    from_: date = Field(alias="from")
    window: int = Field(ge=0, le=10_000)  # 窓口手数料 (yen)
    convenience: int = Field(ge=0, le=10_000)  # コンビニ交付手数料 (yen)


class OfferPeriod(_Strict):
    from_: date = Field(alias="from")
    until: date | None = None  # last day offered (inclusive)

    def covers(self, day: date) -> bool:
        return self.from_ <= day and (self.until is None or day <= self.until)


class CertificateSettings(_Strict):
    type: CertificateType
    offered: tuple[OfferPeriod, ...]
    fees: tuple[FeePeriod, ...]
    hours: Hours | None = None  # None = the tenant's hours
    items: tuple[str, ...] = ()  # optional items the municipality allows to print
    kinds: tuple[IssuanceKind, ...] = (IssuanceKind.SELF,)
    fiscal_years_back: int = Field(default=0, ge=0, le=10)  # 所得証明書: 0 = current 年度 only

    @model_validator(mode="after")
    def _check(self) -> CertificateSettings:
        if not self.offered:
            raise ValueError(f"{self.type}: at least one 'offered' period is required")
        if not self.fees:
            raise ValueError(f"{self.type}: at least one fee period is required")
        starts = [f.from_ for f in self.fees]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError(f"{self.type}: fee periods must be in increasing 'from' order without repeats")
        allowed: tuple[str, ...] = {
            CertificateType.JUMINHYO: JUMINHYO_OPTIONAL_ITEMS,
            CertificateType.KISAI: KISAI_ITEMS,
        }.get(self.type, ())
        bad = [i for i in self.items if i not in allowed]
        if bad:
            raise ValueError(f"{self.type}: items {bad} are not printable items of this type (allowed: {allowed})")
        if self.type is not CertificateType.JUMINHYO and any(k is not IssuanceKind.SELF for k in self.kinds):
            raise ValueError(f"{self.type}: only the 'self' issuance kind exists for this certificate")
        return self

    def fee_on(self, day: date) -> FeePeriod | None:
        current = None
        for period in self.fees:
            if period.from_ <= day:
                current = period
        return current

    def offered_on(self, day: date) -> bool:
        return any(p.covers(day) for p in self.offered) and self.fee_on(day) is not None


class Maintenance(_Strict):
    start: datetime
    end: datetime
    note: str = ""

    @model_validator(mode="after")
    def _aware(self) -> Maintenance:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("maintenance start/end need a UTC offset, e.g. 2026-12-01T00:00:00+09:00")
        if self.end <= self.start:
            raise ValueError("maintenance end must be after start")
        return self


class TenantSettings(_Strict):
    code: str
    name: str  # 加東市
    name_en: str = ""
    prefecture: str = ""
    mayor_title: str  # 加東市長
    mayor_name: str
    official_seal: str | None = None  # PNG path relative to the TOML file; None = drawn from the name
    stage: Stage = Stage.SETUP
    service_start: date
    population: int | None = Field(default=None, ge=0)
    card_method: Literal["jpki", "card-app", "both"] = "jpki"
    copies_limit: int = Field(default=10, ge=1, le=99)
    hours: Hours = Hours()
    closed_new_year: bool = True  # 12/29–1/3
    maintenance: tuple[Maintenance, ...] = ()
    test_residents: tuple[str, ...] = ()  # served while stage = test
    certificates: tuple[CertificateSettings, ...]
    costs: dict[str, int] = Field(default_factory=dict)  # for reports: build, environment, yearly …

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        try:
            return lgcode.validate(value)
        except InvalidInput as exc:
            raise ValueError(exc.message_en) from exc

    @model_validator(mode="after")
    def _unique_types(self) -> TenantSettings:
        types = [c.type for c in self.certificates]
        if len(types) != len(set(types)):
            raise ValueError("each certificate type may appear only once")
        return self

    def certificate(self, kind: CertificateType) -> CertificateSettings | None:
        for cert in self.certificates:
            if cert.type is kind:
                return cert
        return None

    def offered_types(self, day: date) -> list[CertificateType]:
        return [c.type for c in self.certificates if c.offered_on(day)]


def parse_tenant(text: str, *, source: str = "<tenant>") -> TenantSettings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"{source}: not valid TOML: {exc}", f"{source}: TOML の書式が正しくありません: {exc}"
        ) from None
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"{source}: {problems}", f"{source}: 設定に誤りがあります: {problems}") from None


@dataclass
class _Loaded:
    mtime_ns: int
    settings: TenantSettings
    path: Path


class TenantDirectory:
    """All tenants of this issuer, one `<code>.toml` per tenant, reloaded when a file changes.

    A file that becomes invalid keeps serving its last valid version; `errors` says why.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: dict[str, _Loaded] = {}
        self.errors: dict[str, str] = {}

    def _scan(self) -> None:
        if not self.directory.is_dir():
            return
        seen: set[str] = set()
        for path in sorted(self.directory.glob("*.toml")):
            code = path.stem
            seen.add(code)
            mtime = path.stat().st_mtime_ns
            cached = self._loaded.get(code)
            if cached is not None and cached.mtime_ns == mtime:
                continue
            try:
                settings = parse_tenant(path.read_text(encoding="utf-8"), source=str(path))
                if settings.code != code:
                    raise InvalidInput(f"{path}: code {settings.code} does not match the file name {code}.toml")
            except InvalidInput as exc:
                self.errors[code] = exc.message_en
                if cached is not None:
                    cached.mtime_ns = mtime  # keep the last valid version; do not re-parse until it changes
                continue
            self.errors.pop(code, None)
            self._loaded[code] = _Loaded(mtime, settings, path)
        for gone in set(self._loaded) - seen:
            del self._loaded[gone]

    def codes(self) -> list[str]:
        self._scan()
        return sorted(self._loaded)

    def all(self) -> list[TenantSettings]:
        self._scan()
        return [self._loaded[c].settings for c in sorted(self._loaded)]

    def get(self, code: str) -> TenantSettings:
        self._scan()
        loaded = self._loaded.get(code)
        if loaded is None:
            why = self.errors.get(code)
            raise NotFound(
                f"tenant {code} is not configured" + (f": {why}" if why else f" (no {code}.toml in {self.directory})"),
                f"団体 {code} は設定されていません",
            )
        return loaded.settings

    def path_of(self, code: str) -> Path:
        self.get(code)
        return self._loaded[code].path
