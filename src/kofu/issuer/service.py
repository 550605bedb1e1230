"""Issuer use cases: quote, issue, void, look up. One transaction decides and numbers an issuance.

ARCHITECTURE rule 4: eligibility is re-checked against committed registry state in the same transaction
that assigns the issuance number, with the requester's and included members' rows locked, so a registry
event for the same people is serialised with the issuance.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, select

from kofu.common.clock import JST, Clock
from kofu.common.errors import KofuError, NotFound
from kofu.common.faults import fault_point
from kofu.common.ids import new_id
from kofu.issuer import audit
from kofu.issuer import keys as keystore
from kofu.issuer.compose import compose, document_digest
from kofu.issuer.eligibility import (
    IssueRequest,
    Refusal,
    ResidentFacts,
    allowed_fiscal_years,
    check_resident,
    evaluate,
    fiscal_year_of,
)
from kofu.issuer.seal import official_seal_png
from kofu.issuer.statement import Statement, b64u, encode
from kofu.issuer.store import IssuanceRecord, IssuerStore, issuances
from kofu.issuer.tenant import CertificateType, IssuanceKind, TenantDirectory, TenantSettings
from kofu.registry.model import CardLink, SupportMeasure
from kofu.registry.store import RegistryStore, support
from kofu.render import produce
from kofu.render.fonts import find_font
from kofu.render.model import CertificateDocument


class NotEligible(KofuError):
    code = "not-eligible"

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        super().__init__(
            " ".join(r.message_en for r in refusals),
            "".join(r.message_ja for r in refusals),
        )


class OrderVoided(KofuError):
    """issue() for an order that `void_order` already voided (its center refunded it): a late call, e.g. one
    that was still on its way when the center gave up waiting. Refused, never a new live issuance."""

    code = "order-voided"


@dataclass(frozen=True)
class Quote:
    type: CertificateType
    copies: int
    fee_each: int
    window_fee_each: int

    @property
    def total(self) -> int:
        return self.fee_each * self.copies


@dataclass(frozen=True)
class MenuMember:
    resident_id: str
    name: str  # shown on the kiosk screen for 世帯の一部; never stored by the center or the kiosk
    relationship: str


@dataclass(frozen=True)
class MenuEntry:
    type: CertificateType
    available: bool
    refusals: tuple[Refusal, ...]  # why not (empty when available)
    fee_each: int
    window_fee_each: int
    kinds: tuple[IssuanceKind, ...]
    items: tuple[str, ...]
    fiscal_years: tuple[int, ...] = ()


@dataclass(frozen=True)
class Menu:
    tenant: str
    municipality: str
    copies_limit: int
    entries: tuple[MenuEntry, ...]
    members: tuple[MenuMember, ...]  # current household members other than the resident
    refusals: tuple[Refusal, ...] = ()  # the resident may use nothing (e.g. under 15)


@dataclass(frozen=True)
class Issued:
    record: IssuanceRecord
    pdf: bytes
    statement: str


def number_text(tenant: str, number: int) -> str:
    return f"{tenant}-{number:07d}"


def read_facts(
    reg: RegistryStore,
    request: IssueRequest,
    today: date,
    *,
    lock: bool,
    cert_serial: str | None = None,
    card_app_user_id: str | None = None,
    known_card: CardLink | None = None,
) -> ResidentFacts:
    """The committed registry state this request is decided on. With `cert_serial` (利用者証明用電子証明書
    方式) or `card_app_user_id` (カードAP方式), the card must be linked to this very resident, or the request
    is treated as from no resident at all. `known_card`: that card's link as already read in this very
    transaction (`admit`), not read again; never one read in another transaction."""
    # the resident and their household: one statement (two with the lock on PostgreSQL)
    resident, members = reg.resident_and_household(request.tenant, request.resident_id, lock=lock)
    if resident is None:
        return ResidentFacts(resident=None)
    card = None
    method = None
    if cert_serial is not None or card_app_user_id is not None:
        if card_app_user_id is not None:
            card, method = known_card or reg.find_card_app_user(card_app_user_id), "card-app"
        else:
            card, method = known_card or reg.find_card(cert_serial or ""), "jpki"
        if card is None or card.tenant != request.tenant or card.resident_id != request.resident_id:
            return ResidentFacts(resident=None)
    household = tuple(members)
    if lock and request.type is CertificateType.JUMINHYO and request.kind is not IssuanceKind.SELF:
        # lock every included member in a fixed order so racing events for them serialise with us
        others = sorted(p.resident_id for p in household if p.resident_id != resident.resident_id)
        if reg.lock_residents(request.tenant, others):  # on SQLite our writer already holds the database
            household = tuple(reg.household_members(request.tenant, resident.household_id))
    # a resident is always in their household; listed anyway, to be safe
    measures = support_measures_of(reg, request.tenant, [*(p.resident_id for p in household), resident.resident_id])
    under_support = frozenset(
        p.resident_id for p in household if any(m.active_on(today) for m in measures[p.resident_id])
    )
    return ResidentFacts(
        resident=resident,
        household=household,
        **_type_facts(reg, request, resident.resident_id, today),
        support_measures=measures[resident.resident_id],
        members_under_support=under_support,
        card=card,
        method=method,
    )


_SUPPORT_OF = (  # built once: SQLAlchemy reuses its cache key (an expanding IN: any number of residents)
    select(support.c.resident_id, support.c.started_on, support.c.ended_on)
    .where(support.c.tenant == bindparam("tenant"), support.c.resident_id.in_(bindparam("ids", expanding=True)))
    .order_by(support.c.resident_id, support.c.started_on, support.c.id)
)


def support_measures_of(
    reg: RegistryStore, tenant: str, resident_ids: list[str]
) -> dict[str, tuple[SupportMeasure, ...]]:
    """The support measures (支援措置) of each listed resident, in one query — not one per household member
    (the menu, the quote and the issuance each read them: three queries per extra member per customer)."""
    found: dict[str, list[SupportMeasure]] = {rid: [] for rid in resident_ids}
    for rid, started_on, ended_on in reg.conn.execute(_SUPPORT_OF, {"tenant": tenant, "ids": sorted(found)}):
        found[rid].append(SupportMeasure(tenant=tenant, resident_id=rid, started_on=started_on, ended_on=ended_on))
    return {rid: tuple(ms) for rid, ms in found.items()}


def _type_facts(reg: RegistryStore, request: IssueRequest, resident_id: str, today: date) -> dict[str, Any]:
    """The facts only one certificate type needs: the seal (印鑑登録証明書), the income (所得証明書)."""
    year = request.fiscal_year or fiscal_year_of(today)
    return {
        "seal": reg.current_seal(request.tenant, resident_id) if request.type is CertificateType.INKAN else None,
        "income": reg.income(request.tenant, resident_id, year) if request.type is CertificateType.SHOTOKU else None,
    }


def ensure_tenant_keys(
    keys_dir: Path, engine: Engine, tenant: TenantSettings, now: datetime, *, rotate: bool = False
) -> None:
    """Creates the tenant's keys if missing (or when rotating) and registers their public halves."""
    if rotate or not keystore.has_tenant_keys(keys_dir, tenant.code):
        keystore.create_tenant_keys(keys_dir, tenant.code, tenant.name_en, tenant.name)
    keys = keystore.load_tenant_keys(keys_dir, tenant.code)
    with engine.begin() as conn:
        IssuerStore(conn).register_keys(tenant.code, keys.statement_public_raw, keys.signing.cert_pem.decode(), now)


class IssuerService:
    def __init__(
        self,
        engine: Engine,
        tenants: TenantDirectory,
        keys_dir: Path,
        clock: Clock,
        *,
        public_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self.engine = engine
        self.tenants = tenants
        self.keys_dir = keys_dir
        self.clock = clock
        self.public_url = public_url.rstrip("/")

    # ---- keys ----

    def ensure_keys(self, tenant: TenantSettings, *, rotate: bool = False) -> None:
        ensure_tenant_keys(self.keys_dir, self.engine, tenant, self.clock.now(), rotate=rotate)

    def seal_png(self, tenant: TenantSettings) -> bytes:
        if tenant.official_seal:
            return (self.tenants.path_of(tenant.code).parent / tenant.official_seal).read_bytes()
        return official_seal_png(tenant.mayor_title, str(find_font()))

    # ---- use cases ----

    def quote(
        self,
        request: IssueRequest,
        *,
        at: datetime | None = None,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Quote:
        """The fee for this request, after checking it could be issued now (nothing is written)."""
        tenant = self.tenants.get(request.tenant)
        moment = at or self.clock.now()
        today = moment.astimezone(JST).date()
        with self.engine.connect() as conn:
            facts = read_facts(
                RegistryStore(conn),
                request,
                today,
                lock=False,
                cert_serial=cert_serial,
                card_app_user_id=card_app_user_id,
            )
        refusals = evaluate(tenant, request, facts, moment)
        if refusals:
            raise NotEligible(refusals)
        return self._quote(tenant, request, today)

    @staticmethod
    def _quote(tenant: TenantSettings, request: IssueRequest, today: date) -> Quote:
        cert = tenant.certificate(request.type)
        fee = cert.fee_on(today) if cert else None
        assert fee is not None, "evaluate() refuses types without a fee"
        return Quote(request.type, request.copies, fee.convenience, fee.window)

    def issue(
        self,
        request: IssueRequest,
        *,
        channel: str = "cli",
        at: datetime | None = None,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
        order_id: str | None = None,
    ) -> Issued:
        tenant = self.tenants.get(request.tenant)
        keys = keystore.load_tenant_keys(self.keys_dir, tenant.code)
        seal = self.seal_png(tenant)
        moment = at or self.clock.now()
        today = moment.astimezone(JST).date()
        with self.engine.begin() as conn:
            facts = read_facts(
                RegistryStore(conn),
                request,
                today,
                lock=True,
                cert_serial=cert_serial,
                card_app_user_id=card_app_user_id,
            )
            refusals = evaluate(tenant, request, facts, moment)
            if refusals:
                raise NotEligible(refusals)
            assert facts.resident is not None
            quote = self._quote(tenant, request, today)
            store = IssuerStore(conn)
            if order_id is not None and store.lock_order(order_id) is not None:
                raise OrderVoided(
                    f"order {order_id} was voided: nothing is issued for it any more",
                    "この注文は取り消し済みのため、証明書は発行されません。",
                )
            earlier = store.live_for_order(order_id) if order_id is not None else None
            if earlier is not None:  # a retried call: never two live certificates for one order
                store.void(earlier.id, moment, "retried")
            number = store.next_number(tenant.code)
            doc = compose(
                tenant,
                request,
                facts,
                issued_on=today,
                number_text=number_text(tenant.code, number),
                official_seal_png=seal,
                verify_hint=f"{self.public_url}/verify/",
            )
            digest = b64u(document_digest(doc, secrets.token_bytes(16)))
            statement = encode(Statement(tenant.code, number, request.type.value, today, digest), keys.statement_key)
            record = IssuanceRecord(
                id=new_id(),
                tenant=tenant.code,
                number=number,
                type=request.type.value,
                kind=request.kind.value,
                copies=request.copies,
                fee_each=quote.fee_each,
                resident_id=facts.resident.resident_id,
                resident_version=facts.resident.version,
                channel=channel,
                cert_serial=cert_serial or (facts.card.cert_serial if facts.card else None),
                order_id=order_id,
                issued_at=moment,
                issued_on=today,
                document_hash=digest,
                status="issued",
            )
            store.add(record)
            # audit entries last: the log's lock is always the last one a transaction takes (no deadlock)
            if earlier is not None:
                audit.record_voided(conn, earlier.tenant, earlier.number, "retried", moment)
            audit.record_issued(conn, record)
        fault_point("issuer", "after-document-creation")
        try:
            pdf = produce(_with_statement(doc, statement), keys.signing)
        except Exception:
            self.void(record.tenant, record.number, reason="render-failed")
            raise
        return Issued(record=record, pdf=pdf, statement=statement)

    def identify(self, *, cert_serial: str | None = None, card_app_user_id: str | None = None) -> CardLink | None:
        """Which resident of which municipality holds this card (routing for the center)."""
        with self.engine.connect() as conn:
            return _identify(RegistryStore(conn), cert_serial, card_app_user_id)

    def admit(
        self, *, at: datetime | None = None, cert_serial: str | None = None, card_app_user_id: str | None = None
    ) -> tuple[CardLink, Menu] | None:
        """`identify` and, for a registered card, its resident's `menu` — what the center asks when a card is
        put on a kiosk, in one call instead of two (one round trip fewer over HTTP). None: not registered.
        One read transaction: the menu is decided on the card link read here, not on a second read of it."""
        with self.engine.connect() as conn:
            reg = RegistryStore(conn)
            link = _identify(reg, cert_serial, card_app_user_id)
            if link is None:
                return None
            menu = self._menu(
                reg,
                link.tenant,
                link.resident_id,
                at=at,
                cert_serial=cert_serial,
                card_app_user_id=card_app_user_id,
                known_card=link,
            )
        return link, menu

    def menu(
        self,
        tenant_code: str,
        resident_id: str,
        *,
        at: datetime | None = None,
        cert_serial: str | None = None,
        card_app_user_id: str | None = None,
    ) -> Menu:
        """What this resident may obtain now: each offered type with its fee, kinds, items and years."""
        with self.engine.connect() as conn:
            return self._menu(
                RegistryStore(conn),
                tenant_code,
                resident_id,
                at=at,
                cert_serial=cert_serial,
                card_app_user_id=card_app_user_id,
            )

    def _menu(
        self,
        reg: RegistryStore,
        tenant_code: str,
        resident_id: str,
        *,
        at: datetime | None,
        cert_serial: str | None,
        card_app_user_id: str | None,
        known_card: CardLink | None = None,
    ) -> Menu:
        """`menu` inside the caller's transaction (`known_card`: see `read_facts`)."""
        tenant = self.tenants.get(tenant_code)
        moment = at or self.clock.now()
        today = moment.astimezone(JST).date()
        entries: list[MenuEntry] = []
        members: tuple[MenuMember, ...] = ()
        person_refusals: tuple[Refusal, ...] = ()
        base: ResidentFacts | None = None  # what every type shares, read once (one snapshot)
        for ctype in tenant.offered_types(today):
            cert = tenant.certificate(ctype)
            assert cert is not None
            fee = cert.fee_on(today)
            assert fee is not None
            request = IssueRequest(tenant_code, resident_id, ctype)
            if base is None:
                base = facts = read_facts(
                    reg,
                    request,
                    today,
                    lock=False,
                    cert_serial=cert_serial,
                    card_app_user_id=card_app_user_id,
                    known_card=known_card,
                )
            elif base.resident is None:
                facts = base
            else:
                facts = replace(base, **_type_facts(reg, request, resident_id, today))
            refusals = tuple(evaluate(tenant, request, facts, moment))
            person = check_resident(tenant, facts, today)
            if person:
                person_refusals = tuple(person)
            if facts.resident is not None and not members:
                members = tuple(
                    MenuMember(p.resident_id, p.name, p.relationship)
                    for p in facts.household
                    if not p.is_removed and p.resident_id != resident_id
                )
            entries.append(
                MenuEntry(
                    type=ctype,
                    available=not refusals,
                    refusals=refusals,
                    fee_each=fee.convenience,
                    window_fee_each=fee.window,
                    kinds=cert.kinds,
                    items=cert.items,
                    fiscal_years=tuple(allowed_fiscal_years(tenant, today)) if ctype is CertificateType.SHOTOKU else (),
                )
            )
        return Menu(tenant.code, tenant.name, tenant.copies_limit, tuple(entries), members, person_refusals)

    def void(self, tenant: str, number: int, *, reason: str) -> IssuanceRecord:
        with self.engine.begin() as conn:
            store = IssuerStore(conn)
            record = store.get(tenant, number)
            if record is None:
                raise NotFound(f"no issuance {number_text(tenant, number)}", f"発行番号 {number} の記録がありません")
            now = self.clock.now()
            if store.void(record.id, now, reason):
                audit.record_voided(conn, tenant, number, reason, now)
            voided = store.get(tenant, number)
        assert voided is not None
        return voided

    def void_order(self, order_id: str, *, reason: str) -> list[IssuanceRecord]:
        """Voids every live issuance made for `order_id` (the center's order was refunded; it may not know
        the numbers, e.g. after a crash between the issuer's answer and its own record). Idempotent: returns
        the issuances voided by this call, none when all were voided already. The order id is kept as voided:
        a later issue() for it raises `OrderVoided`."""
        now = self.clock.now()
        voided: list[IssuanceRecord] = []
        with self.engine.begin() as conn:
            store = IssuerStore(conn)
            # first the order's lock and mark: an issue() still running for it commits before this reads
            # the live issuances below, and any later issue() for it is refused
            store.mark_order_voided(order_id, now, reason)
            ids = conn.execute(
                select(issuances.c.id)
                .where(issuances.c.order_id == order_id, issuances.c.status == "issued")
                .order_by(issuances.c.tenant, issuances.c.number)
                .with_for_update()
            ).scalars()
            for issuance_id in list(ids):
                if store.void(issuance_id, now, reason):
                    record = store.get_by_id(issuance_id)
                    assert record is not None
                    voided.append(record)
            for record in voided:  # audit entries last, as in issue()
                audit.record_voided(conn, record.tenant, record.number, reason, now)
        return voided

    def lookup(self, tenant: str, number: int) -> IssuanceRecord | None:
        with self.engine.connect() as conn:
            return IssuerStore(conn).get(tenant, number)


def _identify(reg: RegistryStore, cert_serial: str | None, card_app_user_id: str | None) -> CardLink | None:
    if card_app_user_id is not None:
        return reg.find_card_app_user(card_app_user_id)
    return reg.find_card(cert_serial) if cert_serial else None


def _with_statement(doc: CertificateDocument, statement: str) -> CertificateDocument:
    return replace(doc, statement=statement)
