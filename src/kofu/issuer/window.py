"""Window operations (窓口): what the municipal office does with My Number cards.

Issue a card to a registered resident (keys generated on the card, both JPKI certificates issued, PINs
set, the certificate → resident link registered, usable at kiosks from the next day), reset a PIN,
revoke on loss or return, and apply registry events together with the revocations the law attaches to
them — in one transaction, so that a death is never recorded without its certificates being revoked.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine

from kofu.card.cardfile import CardFile
from kofu.card.chip import Card, Holder
from kofu.common.clock import JST, Clock
from kofu.common.errors import Conflict, InvalidInput, NotFound
from kofu.jpki import Authority, CertKind, CertStatus, RevocationReason
from kofu.jpki.model import serial_hex
from kofu.jpki.store import JpkiStore
from kofu.registry.model import (
    CardLink,
    Death,
    MoveOut,
    RegistryEvent,
    Relocation,
    Resident,
    Sex,
)
from kofu.registry.service import AppliedEvent, apply_detailed
from kofu.registry.store import RegistryStore

SEX_CODES = {Sex.MALE: "1", Sex.FEMALE: "2"}


@dataclass(frozen=True)
class IssuedCard:
    path: Path
    card_id: str
    auth_serial: str
    sign_serial: str
    user_id: str
    usable_from: date


@dataclass(frozen=True)
class Revocation:
    serial: str
    kind: CertKind
    reason: RevocationReason


def revocations_for(event: RegistryEvent, links: Sequence[CardLink]) -> list[Revocation]:
    """What the law revokes when this event is recorded (公的個人認証法):

    - death: both certificates of every card (死亡による失効);
    - move-out and relocation: the signing certificate, whose address is no longer true (基本4情報の変更);
      the user-authentication certificate carries no address and stays valid (継続利用).
    """
    out: list[Revocation] = []
    for link in links:
        if link.revoked_on is not None:
            continue
        if isinstance(event, Death):
            out.append(Revocation(link.cert_serial, CertKind.AUTH, RevocationReason.DEATH))
            if link.sign_serial:
                out.append(Revocation(link.sign_serial, CertKind.SIGN, RevocationReason.DEATH))
        elif isinstance(event, MoveOut | Relocation) and link.sign_serial:
            out.append(Revocation(link.sign_serial, CertKind.SIGN, RevocationReason.INFO_CHANGE))
    return out


class WindowService:
    def __init__(self, engine: Engine, authority: Authority, clock: Clock, *, cards_dir: Path, master_key: bytes):
        self.engine = engine
        self.authority = authority
        self.clock = clock
        self.cards_dir = cards_dir
        self.master_key = master_key

    def _today(self) -> date:
        return self.clock.now().astimezone(JST).date()

    def card_file(self, path: Path) -> CardFile:
        return CardFile(path, self.master_key)

    # ---- issuing a card ----

    def issue_card(
        self,
        tenant: str,
        resident_id: str,
        *,
        auth_pin: str,
        sign_password: str,
        kenmen_pin: str | None = None,
        out: Path | None = None,
        usable_from: date | None = None,
        require_current: bool = True,
    ) -> IssuedCard:
        """`require_current=False` is for reconstructing history (demo data: the card a person held before
        a death or move-out was recorded); the caller must then revoke what the event entails."""
        now = self.clock.now()
        today = self._today()
        with self.engine.begin() as conn:
            registry = RegistryStore(conn)
            resident = registry.get_resident(tenant, resident_id, lock=True)
            _require_cardholder(resident, tenant, resident_id, current=require_current)
            assert resident is not None and resident.my_number is not None
            user_id = secrets.token_hex(8).upper()
            card = Card.new(
                Holder(
                    name=resident.name,
                    address=resident.address,
                    birth_date=resident.birth_date,
                    sex=SEX_CODES[resident.sex],
                    my_number=resident.my_number,
                ),
                user_id=user_id,
            )
            auth = self.authority.issue_auth_certificate(
                card.generate_key("auth"), birth_date=resident.birth_date, issued_at=now, conn=conn
            )
            sign = self.authority.issue_sign_certificate(
                card.generate_key("sign"),
                name=resident.name,
                name_kana=resident.kana,
                sex=resident.sex.value,
                birth_date=resident.birth_date,
                address=resident.address,
                issued_at=now,
                conn=conn,
            )
            der = serialization.Encoding.DER
            card.install_certificate(
                "auth", auth.public_bytes(der), self.authority.ca_certificate(CertKind.AUTH).public_bytes(der)
            )
            card.install_certificate(
                "sign", sign.public_bytes(der), self.authority.ca_certificate(CertKind.SIGN).public_bytes(der)
            )
            card.set_pin("auth", auth_pin)
            card.set_pin("sign", sign_password)
            card.set_pin("kenmen", kenmen_pin or auth_pin)
            card.set_pin("card_ap", kenmen_pin or auth_pin)
            card_ap_key = card.generate_card_ap_key()  # the card AP proves the card itself (カードAP方式)
            card.lock_personalisation()
            link = CardLink(
                tenant=tenant,
                resident_id=resident_id,
                cert_serial=serial_hex(auth.serial_number),
                issued_on=today,
                usable_from=usable_from or today + timedelta(days=1),
                sign_serial=serial_hex(sign.serial_number),
                card_app_user_id=user_id,
                card_app_public_key=base64.b64encode(
                    card_ap_key.public_bytes(
                        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                ).decode(),
            )
            for old in registry.card_links(tenant, resident_id):  # a new card replaces the old one
                for revocation in _all_certificates(old, RevocationReason.RENEWAL):
                    self._revoke(conn, revocation)
                registry.revoke_card(old.cert_serial, today)
            registry.add_card_link(link)
            path = out or self.cards_dir / f"{card.card_id}.card"
            path.parent.mkdir(parents=True, exist_ok=True)
            # written last, inside the transaction: if the file cannot be written nothing is registered
            self.card_file(path).save(card)
        return IssuedCard(path, card.card_id, link.cert_serial, link.sign_serial or "", user_id, link.usable_from)

    # ---- PINs ----

    def reset_pin(self, path: Path, *, new_pin: str, which: str = "auth") -> date:
        """The office resets a (locked or forgotten) PIN; kiosks serve the card again from the next day."""
        if which not in ("auth", "sign", "kenmen", "card_ap"):
            raise InvalidInput(f"unknown PIN {which!r}: auth, sign, kenmen or card_ap")
        card = self.card_file(path).load()
        card.reset_pin(which, new_pin)  # type: ignore[arg-type]
        tomorrow = self._today() + timedelta(days=1)
        cert = card.certificate("auth")
        if which == "auth" and cert is not None:
            from cryptography import x509

            serial = serial_hex(x509.load_der_x509_certificate(cert).serial_number)
            with self.engine.begin() as conn:
                RegistryStore(conn).set_card_usable_from(serial, tomorrow)
        return tomorrow

    # ---- revocation ----

    def revoke_card(self, cert_serial: str, reason: RevocationReason) -> list[str]:
        """Revoke both certificates of the card whose user-authentication certificate has this serial."""
        with self.engine.begin() as conn:
            registry = RegistryStore(conn)
            link = registry.find_card(cert_serial)
            if link is None:
                raise NotFound(
                    f"no card with certificate serial {cert_serial}", f"シリアル番号 {cert_serial} のカードはありません"
                )
            if link.revoked_on is not None:
                raise Conflict(
                    f"card {cert_serial} was already revoked on {link.revoked_on}", "このカードは既に失効しています"
                )
            done = [self._revoke(conn, r) for r in _all_certificates(link, reason)]
            registry.revoke_card(link.cert_serial, self._today())
        return [d for d in done if d]

    def revoke_as_recorded(self, tenant: str, resident_id: str, event: RegistryEvent) -> list[str]:
        """Revoke what `event` entails for a resident whose event is already in the registry."""
        with self.engine.begin() as conn:
            registry = RegistryStore(conn)
            links = registry.card_links(tenant, resident_id)
            done = [self._revoke(conn, r) for r in revocations_for(event, links)]
            if isinstance(event, Death):
                for link in links:
                    registry.revoke_card(link.cert_serial, event.effective_on)
        return [d for d in done if d]

    def _revoke(self, conn: Connection, revocation: Revocation) -> str:
        """Revokes unless already revoked; returns the serial revoked now, or ''."""
        record = JpkiStore(conn).get(revocation.serial)  # inside this transaction (SQLite: no second connection)
        if record is None or record.status is CertStatus.REVOKED:
            return ""
        self.authority.revoke(revocation.serial, revocation.reason, self.clock.now(), conn=conn)
        return revocation.serial

    # ---- registry events with their revocations ----

    def apply_events(self, events: Sequence[RegistryEvent]) -> tuple[list[AppliedEvent], list[str]]:
        """Apply registry events and the revocations they entail, all in one transaction."""
        applied: list[AppliedEvent] = []
        revoked: list[str] = []
        now = self.clock.now()
        with self.engine.begin() as conn:
            registry = RegistryStore(conn)
            for event in events:
                links = registry.card_links(event.tenant, event.resident_id)
                applied.append(apply_detailed(conn, event, recorded_at=now))
                for revocation in revocations_for(event, links):
                    if self._revoke(conn, revocation):
                        revoked.append(revocation.serial)
                if isinstance(event, Death):
                    for link in links:
                        registry.revoke_card(link.cert_serial, event.effective_on)
        return applied, revoked


def _all_certificates(link: CardLink, reason: RevocationReason) -> list[Revocation]:
    out = [Revocation(link.cert_serial, CertKind.AUTH, reason)]
    if link.sign_serial:
        out.append(Revocation(link.sign_serial, CertKind.SIGN, reason))
    return out


def _require_cardholder(resident: Resident | None, tenant: str, resident_id: str, *, current: bool) -> None:
    if resident is None:
        raise NotFound(f"no resident {resident_id} in {tenant}", f"住民 {resident_id} は登録されていません")
    if current and resident.status.value != "resident":
        raise InvalidInput(
            f"resident {resident_id} is {resident.status.value}: a card is issued only to current residents",
            "現に住民登録のある方にのみカードを交付できます",
        )
    if not resident.my_number:
        raise InvalidInput(f"resident {resident_id} has no 個人番号", "個人番号がありません")
