"""Center use cases: kiosk registry, card authentication and routing, order → payment → documents →
print result, cancel, expiry, idempotency. The issuer is reached only through an `IssuerGateway`.

Every state change of an order happens in one transaction that holds the order's row lock
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers with `BEGIN IMMEDIATE`) and appends its
audit entry in the same transaction. Calls to the issuer and to the JPKI validator happen outside any
transaction: an order is first claimed (`issuing`), the issuer is called, and the answer is recorded in a
second transaction that re-reads the order — if the order was closed meanwhile (timeout), the fresh
document is voided at once (ARCHITECTURE rule 3).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Connection, Engine, RowMapping, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from kofu.center import cardapp, model
from kofu.center.gateway import IssuedDocument, IssuerGateway
from kofu.center.model import OrderStatus
from kofu.center.protocol import (
    AuthenticateBody,
    Authenticated,
    CardAppProofBody,
    Delivery,
    MemberView,
    MenuEntryView,
    MenuView,
    OrderBody,
    OrderOutcome,
    OrderQuoted,
    PaymentState,
    PrintJob,
    Receipt,
    RefusalView,
    SessionOpened,
    b64,
    challenge_bytes,
    unb64,
)
from kofu.center.store import audit, idempotency, kiosks, nonces, orders, payments, sessions, stores
from kofu.common.clock import Clock
from kofu.common.errors import KofuError
from kofu.common.faults import fault_point
from kofu.common.ids import new_id
from kofu.db.audit import AuditLog, Problem
from kofu.issuer.eligibility import IssueRequest, Refusal
from kofu.issuer.service import Menu, NotEligible, number_text
from kofu.issuer.tenant import CertificateType, IssuanceKind
from kofu.jpki.validate import FailureReason, Validator

T = TypeVar("T")


# ---- errors: each with an HTTP status, a stable code and ja/en messages ----


class CenterError(KofuError):
    def __init__(
        self, status: int, code: str, message_en: str, message_ja: str, refusals: Sequence[RefusalView] = ()
    ) -> None:
        super().__init__(message_en, message_ja, code=code)
        self.status = status
        self.refusals = list(refusals)


def _err(status: int, code: str, en: str, ja: str) -> CenterError:
    return CenterError(status, code, en, ja)


def unauthorized() -> CenterError:
    return _err(
        401,
        "kiosk-unauthorized",
        "Unknown kiosk or wrong credential.",
        "登録されていない端末か、認証情報が誤っています。",
    )


def refusal_view(r: Refusal) -> RefusalView:
    return RefusalView(r.code.value, r.message_en, r.message_ja)


def refused(refusals: Sequence[Refusal]) -> CenterError:
    views = [refusal_view(r) for r in refusals]
    return CenterError(
        422, "not-eligible", " ".join(v.message_en for v in views), "".join(v.message_ja for v in views), views
    )


def issuer_unavailable(exc: BaseException) -> CenterError:
    return _err(
        503,
        "issuer-unavailable",
        f"The municipality's issuing server could not be reached ({type(exc).__name__}). Nothing was charged.",
        "市区町村の証明書発行サーバに接続できませんでした。料金はかかりません。",
    )


CERT_MESSAGES: dict[FailureReason, tuple[str, str]] = {
    FailureReason.MALFORMED: (
        "The card's certificate could not be read.",
        "カードの電子証明書を読み取れませんでした。",
    ),
    FailureReason.UNTRUSTED_ISSUER: (
        "This card's certificate was not issued by JPKI.",
        "このカードの電子証明書は公的個人認証サービスのものではありません。",
    ),
    FailureReason.BAD_SIGNATURE: ("The card's certificate is forged.", "カードの電子証明書が正しくありません。"),
    FailureReason.NOT_YET_VALID: (
        "The card's certificate is not valid yet.",
        "カードの電子証明書はまだ有効ではありません。",
    ),
    FailureReason.EXPIRED: (
        "The card's certificate has expired. Please renew it at the municipal office.",
        "カードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください。",
    ),
    FailureReason.WRONG_KEY_USAGE: (
        "This certificate cannot be used for user authentication.",
        "この電子証明書は利用者証明には使用できません。",
    ),
    FailureReason.WRONG_POLICY: (
        "This certificate cannot be used for user authentication.",
        "この電子証明書は利用者証明には使用できません。",
    ),
    FailureReason.REVOKED: (
        "The card's certificate has been revoked.",
        "カードの電子証明書は失効しています。",
    ),
    FailureReason.REVOCATION_UNKNOWN: (
        "The certificate's status could not be checked. Please try again later.",
        "電子証明書の有効性を確認できませんでした。しばらくしてからお試しください。",
    ),
}


# ---- settings and values ----


@dataclass(frozen=True)
class CenterSettings:
    session_idle: timedelta = timedelta(minutes=10)
    order_timeout: timedelta = timedelta(minutes=5)
    idempotency_keep: timedelta = timedelta(days=1)
    # how long a verified kiosk credential is trusted without reading the database again; deactivating a
    # kiosk takes effect at once in the process that does it, within this time in the other processes
    kiosk_cache_seconds: float = 5.0


@dataclass(frozen=True)
class Kiosk:
    kiosk_id: str
    store_id: str
    chain: str
    municipality: str  # where the store is


@dataclass(frozen=True)
class StoreInfo:
    store_id: str
    chain: str
    municipality: str
    kiosks: tuple[tuple[str, bool], ...]  # (kiosk id, active)


@dataclass
class _Closing:
    """What to do after a closing transaction commits: void this issuance at the issuer — by number, or,
    when the issuer may have issued without the center learning the number, every issuance of the order."""

    order_id: str
    tenant: str
    number: int | None
    reason: str
    by_order: bool = False
    kiosk_id: str | None = None  # the order's kiosk: its audit chain


def menu_view(menu: Menu) -> MenuView:
    return MenuView(
        entries=[
            MenuEntryView(
                type=e.type.value,
                title_ja=e.type.title_ja,
                available=e.available,
                refusals=[refusal_view(r) for r in e.refusals],
                fee_each=e.fee_each,
                window_fee_each=e.window_fee_each,
                kinds=[k.value for k in e.kinds],
                items=list(e.items),
                fiscal_years=list(e.fiscal_years),
            )
            for e in menu.entries
        ],
        members=[MemberView(m.resident_id, m.name, m.relationship) for m in menu.members],
        copies_limit=menu.copies_limit,
        refusals=[refusal_view(r) for r in menu.refusals],
    )


# ---- the statements of the kiosk's calls, built once ----
# SQLAlchemy keeps a statement object's cache key, so a statement reused with parameters skips both building
# `select(…).where(col == value)` and generating its key on every call (that was most of the SQL's CPU).
# An INSERT's columns and an UPDATE's SET columns are the keys of the parameters passed with it; an UPDATE's
# WHERE parameters are named `w_…` so that they never read as a column to set.

_KIOSK = (
    select(kiosks, stores.c.chain, stores.c.municipality)
    .join(stores, stores.c.store_id == kiosks.c.store_id)
    .where(kiosks.c.kiosk_id == bindparam("kiosk_id"))
)
_SESSION = select(sessions).where(sessions.c.session_id == bindparam("session_id"))
_SESSION_LOCKED = _SESSION.with_for_update()  # FOR UPDATE is ignored by SQLite, whose writers serialise at BEGIN
_INSERT_SESSION = insert(sessions)
_UPDATE_SESSION = update(sessions).where(sessions.c.session_id == bindparam("w_session_id"))
# marks an authenticated session of this kiosk seen if it is not stale (what `_authenticated_row` checks), in
# one statement that takes the session's row lock as the SELECT … FOR UPDATE did; no row: that read says why
_TOUCH_AUTHENTICATED = update(sessions).where(
    sessions.c.session_id == bindparam("w_session_id"),
    sessions.c.kiosk_id == bindparam("w_kiosk_id"),
    sessions.c.status == "authenticated",
    sessions.c.last_seen_at > bindparam("w_stale_at"),
)
# the session and its challenge in one statement (was two); locked, both rows are locked by it (PostgreSQL
# locks the rows of every table of a join), the session's as before first in any step that takes both
_SESSION_NONCE = (
    select(sessions, nonces.c.nonce, nonces.c.used_at.label("nonce_used_at"))
    .join(nonces, nonces.c.session_id == sessions.c.session_id)
    .where(sessions.c.session_id == bindparam("session_id"))
)
_SESSION_NONCE_LOCKED = _SESSION_NONCE.with_for_update()
_INSERT_NONCE = insert(nonces)
_USE_NONCE = update(nonces).where(nonces.c.nonce == bindparam("w_nonce"))
# the order under its row lock, with its session's municipality (the receipt's; set at authentication, never
# changed after) read by the same statement; FOR UPDATE locks the order's row only, as before
_ORDER_LOCKED = (
    select(
        orders,
        select(sessions.c.municipality)
        .where(sessions.c.session_id == orders.c.session_id)
        .scalar_subquery()
        .label("session_municipality"),
    )
    .where(orders.c.order_id == bindparam("order_id"))
    .with_for_update()
)
_INSERT_ORDER = insert(orders)
_UPDATE_ORDER = update(orders).where(orders.c.order_id == bindparam("w_order_id"))
# the delivery of an order still issuing, and what its audit entry needs, in one statement that takes the
# order's row lock as the SELECT … FOR UPDATE did (no row: the order was closed meanwhile, or is unknown)
_DELIVER = (
    update(orders)
    .where(orders.c.order_id == bindparam("w_order_id"), orders.c.status == OrderStatus.ISSUING.value)
    .returning(orders.c.session_id, orders.c.cert_serial, orders.c.total, orders.c.paid)
)
_INSERT_PAYMENT = insert(payments)
_IDEM_INSERT_PG = postgresql.insert(idempotency).on_conflict_do_nothing().returning(idempotency.c.key)
_IDEM_INSERT_SQLITE = sqlite.insert(idempotency).on_conflict_do_nothing().returning(idempotency.c.key)
_IDEM_ROW_LOCKED = (
    select(idempotency)
    .where(idempotency.c.kiosk_id == bindparam("kiosk_id"), idempotency.c.key == bindparam("key"))
    .with_for_update()
)
_IDEM_UPDATE = update(idempotency).where(
    idempotency.c.kiosk_id == bindparam("w_kiosk_id"), idempotency.c.key == bindparam("w_key")
)


def _reason_code(error: str | None, default: str) -> str:
    """Reasons recorded in the audit log are short codes, never free text."""
    if error and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", error):
        return error
    return default


class CenterService:
    def __init__(
        self,
        engine: Engine,
        gateway: IssuerGateway,
        validator: Validator,
        clock: Clock,
        settings: CenterSettings | None = None,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.validator = validator
        self.clock = clock
        self.settings = settings or CenterSettings()
        # kiosk id → (SHA-256 of its secret, the kiosk, monotonic expiry): active kiosks only
        self._kiosk_cache: dict[str, tuple[str, Kiosk, float]] = {}
        self._kiosk_cache_lock = threading.Lock()
        self._kiosk_cache_generation = 0  # bumped by every change: a read older than a change is not cached

    def _forget_kiosk(self, kiosk_id: str) -> None:
        with self._kiosk_cache_lock:
            self._kiosk_cache.pop(kiosk_id, None)
            self._kiosk_cache_generation += 1

    # ---- stores and kiosks ----

    def register_store(self, store_id: str, chain: str, municipality: str) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            if conn.execute(select(stores.c.store_id).where(stores.c.store_id == store_id)).first():
                raise _err(409, "store-exists", f"store {store_id} already exists", f"店舗 {store_id} は登録済みです。")
            conn.execute(
                insert(stores).values(store_id=store_id, chain=chain, municipality=municipality, created_at=now)
            )
            audit(conn).append("store.registered", now, store=store_id, chain=chain, municipality=municipality)

    def register_kiosk(self, store_id: str, kiosk_id: str) -> str:
        """Registers a kiosk and returns its secret, which is shown once and stored only as a hash."""
        now = self.clock.now()
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if not conn.execute(select(stores.c.store_id).where(stores.c.store_id == store_id)).first():
                raise _err(404, "unknown-store", f"no store {store_id}", f"店舗 {store_id} は登録されていません。")
            if conn.execute(select(kiosks.c.kiosk_id).where(kiosks.c.kiosk_id == kiosk_id)).first():
                raise _err(409, "kiosk-exists", f"kiosk {kiosk_id} already exists", f"端末 {kiosk_id} は登録済みです。")
            conn.execute(
                insert(kiosks).values(
                    kiosk_id=kiosk_id, store_id=store_id, secret_sha256=_sha256(secret), active=True, created_at=now
                )
            )
            audit(conn).append("kiosk.registered", now, kiosk=kiosk_id, store=store_id)
        self._forget_kiosk(kiosk_id)
        return secret

    def set_kiosk_active(self, kiosk_id: str, active: bool) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            done = conn.execute(update(kiosks).where(kiosks.c.kiosk_id == kiosk_id).values(active=active))
            if done.rowcount == 0:
                raise _err(404, "unknown-kiosk", f"no kiosk {kiosk_id}", f"端末 {kiosk_id} は登録されていません。")
            audit(conn).append("kiosk.activated" if active else "kiosk.deactivated", now, kiosk=kiosk_id)
        self._forget_kiosk(kiosk_id)

    def list_stores(self) -> list[StoreInfo]:
        with self.engine.connect() as conn:
            ks = conn.execute(select(kiosks).order_by(kiosks.c.kiosk_id)).mappings().all()
            return [
                StoreInfo(
                    s["store_id"],
                    s["chain"],
                    s["municipality"],
                    tuple((k["kiosk_id"], bool(k["active"])) for k in ks if k["store_id"] == s["store_id"]),
                )
                for s in conn.execute(select(stores).order_by(stores.c.store_id)).mappings()
            ]

    def authenticate_kiosk(self, kiosk_id: str | None, secret: str | None) -> Kiosk:
        """The kiosk whose credential this is. A verified credential of an active kiosk is remembered for
        `kiosk_cache_seconds` (its hash, never the secret): the next calls compare against it without a
        database read; a wrong secret is still refused, and only a correct one is ever remembered."""
        remembered = self.remembered_kiosk(kiosk_id, secret)
        if remembered is not None:
            return remembered
        assert kiosk_id and secret  # remembered_kiosk refused a missing credential
        digest = _sha256(secret)
        generation = self._kiosk_cache_generation
        with self.engine.connect() as conn:
            row = conn.execute(_KIOSK, {"kiosk_id": kiosk_id}).mappings().first()
        expected = row["secret_sha256"] if row is not None else _sha256("")
        if not hmac.compare_digest(expected, digest) or row is None or not row["active"]:
            raise unauthorized()
        kiosk = Kiosk(row["kiosk_id"], row["store_id"], row["chain"], row["municipality"])
        if self.settings.kiosk_cache_seconds > 0:
            with self._kiosk_cache_lock:
                if generation == self._kiosk_cache_generation:
                    expiry = time.monotonic() + self.settings.kiosk_cache_seconds
                    self._kiosk_cache[kiosk_id] = (expected, kiosk, expiry)
        return kiosk

    def remembered_kiosk(self, kiosk_id: str | None, secret: str | None) -> Kiosk | None:
        """`authenticate_kiosk` without a database read, cheap enough for the event loop: the kiosk if its
        credential is remembered, None if it must be read; refuses a missing credential and a secret that
        differs from the remembered one, as `authenticate_kiosk` does."""
        if not kiosk_id or not secret:
            raise unauthorized()
        cached = self._kiosk_cache.get(kiosk_id)
        if cached is None or cached[2] <= time.monotonic():
            return None
        if not hmac.compare_digest(cached[0], _sha256(secret)):
            raise unauthorized()
        return cached[1]

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # ---- sessions and card authentication ----

    def open_session(self, kiosk: Kiosk) -> SessionOpened:
        now = self.clock.now()
        sid = new_id()
        nonce = b64(secrets.token_bytes(32))
        opened = SessionOpened(sid, nonce, now + self.settings.session_idle)
        with self._tx() as conn:
            conn.execute(
                _INSERT_SESSION,
                {
                    "session_id": sid,
                    "kiosk_id": kiosk.kiosk_id,
                    "status": "open",
                    "created_at": now,
                    "last_seen_at": now,
                },
            )
            conn.execute(_INSERT_NONCE, {"nonce": nonce, "session_id": sid, "issued_at": now})
            audit(conn, kiosk.kiosk_id).append(
                "session.opened", now, session=sid, kiosk=kiosk.kiosk_id, store=kiosk.store_id
            )
            self._answer(opened)
        return opened

    def authenticate(self, kiosk: Kiosk, session_id: str, body: AuthenticateBody) -> Authenticated:
        now = self.clock.now()
        # 1. the session's challenge, read: it is consumed with the outcome, in the one transaction that
        # records it (whether the card is accepted or refused: one try per nonce)
        with self.engine.connect() as conn:
            session = self._session_and_nonce(conn, kiosk, session_id, now, lock=False)
        if session["status"] != "open" or session["nonce"] is None or session["nonce_used_at"] is not None:
            self._record_session(session_id, "replay", now, kiosk)  # raises 409 nonce-used
        nonce = str(session["nonce"])

        # 2. who is this card?
        cert_serial: str | None = None
        user_id: str | None = None
        try:
            if body.method == "jpki":
                cert_serial = self._check_card(kiosk, session_id, nonce, body, now)
            elif body.method == "card-app":
                if not body.user_id:
                    raise _err(400, "invalid-request", "user_id is required", "利用者IDがありません。")
                user_id = body.user_id
            else:
                raise _err(400, "invalid-request", "method must be jpki or card-app", "認証方式が不正です。")
            # the card's municipality and resident, and that resident's menu: one issuer call (was identify, menu)
            admitted = self._call(lambda: self.gateway.admit(at=now, cert_serial=cert_serial, card_app_user_id=user_id))
            if admitted is None:
                raise _err(
                    422,
                    "card-not-registered",
                    "This card is not registered with any participating municipality.",
                    "このカードはコンビニ交付に対応した市区町村に登録されていません。",
                )
            link, menu = admitted
            if menu.refusals:
                raise refused(menu.refusals)
        except CenterError as exc:
            self._record_session(session_id, "refused", now, kiosk, code=exc.code, cert_serial=cert_serial)
            raise
        except Exception as exc:
            self._record_session(session_id, "refused", now, kiosk, code="issuer-unavailable", cert_serial=cert_serial)
            raise issuer_unavailable(exc) from exc
        result = Authenticated(link.tenant, menu.municipality, menu_view(menu))
        self._record_session(
            session_id,
            cardapp.PROVISIONAL if body.method == "card-app" else "authenticated",  # card-app: see prove_card_app
            now,
            kiosk,
            answer=result,
            method=body.method,
            tenant=link.tenant,
            municipality=menu.municipality,
            resident_id=link.resident_id,
            cert_serial=cert_serial,
            card_app_user_id=user_id,
        )
        return result

    def _check_card(self, kiosk: Kiosk, session_id: str, nonce: str, body: AuthenticateBody, now: datetime) -> str:
        try:
            der = unb64(body.certificate or "")
            signature = unb64(body.signature or "")
        except ValueError:
            raise _err(
                400, "invalid-request", "certificate and signature must be base64", "証明書または署名の形式が不正です。"
            ) from None
        validation = self.validator.validate(der, at=now, purpose="auth")
        if not validation.ok:
            assert validation.reason is not None
            en, ja = CERT_MESSAGES[validation.reason]
            status = 503 if validation.reason is FailureReason.REVOCATION_UNKNOWN else 422
            raise CenterError(status, validation.reason.value, en, ja)
        cert = validation.certificate
        assert cert is not None and validation.serial is not None
        if not _signature_ok(cert, signature, challenge_bytes(session_id, kiosk.kiosk_id, nonce)):
            raise _err(
                401,
                "signature-invalid",
                "The card's signature does not match this session. Please place the card again.",
                "カードの署名を確認できませんでした。もう一度カードを置いてください。",
            )
        return validation.serial

    def prove_card_app(self, kiosk: Kiosk, session_id: str, body: CardAppProofBody) -> MenuView:
        """Card-app method, after the PIN: the card AP's signature over the session's challenge, checked
        against the card link's registered key, turns the provisional session authenticated (once)."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            s = self._session_and_nonce(conn, kiosk, session_id, now, lock=False)
        if s["method"] != "card-app":
            raise _err(*cardapp.NOT_CARD_APP)
        if s["status"] != cardapp.PROVISIONAL or s["nonce"] is None:  # proven, refused or expired: no second try
            self._card_app_outcome(kiosk, session_id, now, None)
        try:
            signature = unb64(body.signature)
        except ValueError:
            raise _err(400, "invalid-request", "signature must be base64", "署名の形式が不正です。") from None
        link = self._call(lambda: self.gateway.identify(card_app_user_id=s["card_app_user_id"]))
        if link is None or (link.tenant, link.resident_id) != (s["tenant"], s["resident_id"]):
            self._card_app_outcome(kiosk, session_id, now, "refused", cardapp.NOT_REGISTERED)
        assert link is not None
        if link.card_app_public_key is None:
            self._card_app_outcome(kiosk, session_id, now, "refused", cardapp.KEY_MISSING)
        assert link.card_app_public_key is not None
        challenge = challenge_bytes(session_id, kiosk.kiosk_id, str(s["nonce"]))
        if not cardapp.card_app_signature_ok(link.card_app_public_key, signature, challenge):
            self._card_app_outcome(kiosk, session_id, now, "refused", cardapp.SIGNATURE_INVALID)
        menu = self._call(
            lambda: self.gateway.menu(
                s["tenant"], s["resident_id"], at=now, cert_serial=None, card_app_user_id=s["card_app_user_id"]
            )
        )
        view = menu_view(menu)
        self._card_app_outcome(kiosk, session_id, now, "authenticated", answer=view)
        return view

    def _card_app_outcome(
        self,
        kiosk: Kiosk,
        session_id: str,
        now: datetime,
        status: str | None,
        refusal: tuple[int, str, str, str] | None = None,
        *,
        answer: object = None,
    ) -> None:
        """Records the card-app proof's outcome (`status`; None: a replay) under the session's row lock, so a
        session is proven or refused once; then raises the refusal (a later proof: 409 card-app-proof-used)."""
        replay = False
        outcome: str | None
        with self._tx() as conn:
            s = self._session(conn, kiosk, session_id, now, lock=True)
            if status is None or s["status"] != cardapp.PROVISIONAL:
                replay = True
                kind, outcome = "session.replay", cardapp.PROOF_USED[1]
            else:
                if answer is not None:
                    self._answer(answer)
                conn.execute(_UPDATE_SESSION, {"w_session_id": session_id, "status": status, "last_seen_at": now})
                kind, outcome = f"session.{status}", (refusal[1] if refusal is not None else None)
            audit(conn, kiosk.kiosk_id).append(
                kind,
                now,
                session=session_id,
                kiosk=kiosk.kiosk_id,
                store=kiosk.store_id,
                tenant=s["tenant"],
                method="card-app",
                outcome=outcome,
            )
        if replay:
            raise _err(*cardapp.PROOF_USED)
        if refusal is not None:
            raise _err(*refusal)

    def _record_session(
        self, session_id: str, status: str, now: datetime, kiosk: Kiosk, *, answer: object = None, **values: Any
    ) -> None:
        """Consumes the session's nonce and records the outcome of its one authentication (`authenticated`,
        `refused`) in one transaction, with `answer` for the Idempotency-Key. If the nonce is already used
        (a replay, or a concurrent attempt that committed first) it records `session.replay` and raises 409."""
        code = values.pop("code", None)
        replay = False
        with self._tx() as conn:
            session = self._session_and_nonce(conn, kiosk, session_id, now, lock=True)
            if (
                status == "replay"
                or session["status"] != "open"
                or session["nonce"] is None
                or session["nonce_used_at"] is not None
            ):
                audit(conn, kiosk.kiosk_id).append(
                    "session.replay", now, session=session_id, kiosk=kiosk.kiosk_id, store=kiosk.store_id
                )
                replay = True
            else:
                conn.execute(_USE_NONCE, {"w_nonce": session["nonce"], "used_at": now})
                self._record_outcome(conn, session_id, status, now, kiosk, code, values, answer)
        if replay:
            raise _err(
                409,
                "nonce-used",
                "This session's challenge was already used; start again with a new session.",
                "この認証要求は使用済みです。最初からやり直してください。",
            )

    def _record_outcome(
        self,
        conn: Connection,
        session_id: str,
        status: str,
        now: datetime,
        kiosk: Kiosk,
        code: str | None,
        values: dict[str, Any],
        answer: object,
    ) -> None:
        if answer is not None:
            self._answer(answer)
        fields = {k: v for k, v in values.items() if k != "method" or v is not None}
        conn.execute(_UPDATE_SESSION, {"w_session_id": session_id, "status": status, "last_seen_at": now, **fields})
        audit(conn, kiosk.kiosk_id).append(
            f"session.{status}",
            now,
            session=session_id,
            kiosk=kiosk.kiosk_id,
            store=kiosk.store_id,
            tenant=values.get("tenant"),
            cert_serial=values.get("cert_serial"),
            method=values.get("method"),
            outcome=code,
        )

    def _session_and_nonce(
        self, conn: Connection, kiosk: Kiosk, session_id: str, now: datetime, *, lock: bool
    ) -> RowMapping | dict[str, Any]:
        """`_session` with its challenge's `nonce` and `nonce_used_at` (both None if it has none), read by one
        statement (`lock`: both rows locked)."""
        row = conn.execute(_SESSION_NONCE_LOCKED if lock else _SESSION_NONCE, {"session_id": session_id})
        found = row.mappings().first()
        if found is None:  # no such session (raises), or a session without a challenge
            return {**self._session(conn, kiosk, session_id, now, lock=lock), "nonce": None, "nonce_used_at": None}
        return self._checked_session(found, kiosk, now)

    def _session(self, conn: Connection, kiosk: Kiosk, session_id: str, now: datetime, *, lock: bool) -> RowMapping:
        row = conn.execute(_SESSION_LOCKED if lock else _SESSION, {"session_id": session_id}).mappings().first()
        return self._checked_session(row, kiosk, now)

    def _checked_session(self, row: RowMapping | None, kiosk: Kiosk, now: datetime) -> RowMapping:
        if row is None:
            raise _err(404, "unknown-session", "No such session.", "セッションが見つかりません。")
        if row["kiosk_id"] != kiosk.kiosk_id:
            raise _err(
                403, "foreign-session", "This session belongs to another kiosk.", "このセッションは別の端末のものです。"
            )
        if row["status"] == "expired" or model.is_stale(row["last_seen_at"], now, self.settings.session_idle):
            raise _err(
                410,
                "session-expired",
                "The session has expired. Please start again.",
                "セッションの有効期限が切れました。最初からやり直してください。",
            )
        return row

    def _authenticated_session(
        self, kiosk: Kiosk, session_id: str, *, touch: bool = True, provisional: bool = False
    ) -> RowMapping:
        """The session, authenticated and not expired (an expired one is closed: 410). `touch` marks it
        seen in a writer transaction; without, it is only read (the caller's writer touches it later).
        `provisional`: a card-app session whose card has not proven itself yet is good enough (the menu)."""
        now = self.clock.now()
        try:
            if not touch:
                with self.engine.connect() as conn:
                    return self._authenticated_row(conn, kiosk, session_id, now, lock=False, provisional=provisional)
            with self.engine.begin() as conn:
                row = self._authenticated_row(conn, kiosk, session_id, now, lock=True, provisional=provisional)
                conn.execute(_UPDATE_SESSION, {"w_session_id": session_id, "last_seen_at": now})
                return row
        except CenterError as exc:
            if exc.status == 410:
                self.expire(now, session_id=session_id)
            raise

    def _authenticated_row(
        self, conn: Connection, kiosk: Kiosk, session_id: str, now: datetime, *, lock: bool, provisional: bool = False
    ) -> RowMapping:
        row = self._session(conn, kiosk, session_id, now, lock=lock)
        if row["status"] == cardapp.PROVISIONAL and not provisional:
            raise _err(*cardapp.PROOF_REQUIRED)
        if row["status"] not in ("authenticated", cardapp.PROVISIONAL):
            raise _err(
                409,
                "not-authenticated",
                "The card has not been authenticated in this session.",
                "カードの認証が済んでいません。",
            )
        return row

    def _touch_authenticated(self, conn: Connection, kiosk: Kiosk, session_id: str, now: datetime) -> None:
        """`_authenticated_row` under the session's lock, then the session marked seen: one UPDATE whose WHERE
        holds the checks when they pass (they almost always do); otherwise the checks' read raises as before."""
        params = {
            "w_session_id": session_id,
            "w_kiosk_id": kiosk.kiosk_id,
            "w_stale_at": now - self.settings.session_idle,  # is_stale: last_seen_at <= now - session_idle
            "last_seen_at": now,
        }
        if conn.execute(_TOUCH_AUTHENTICATED, params).rowcount == 1:
            return
        self._authenticated_row(conn, kiosk, session_id, now, lock=True)  # raises why the UPDATE found no row
        conn.execute(_UPDATE_SESSION, {"w_session_id": session_id, "last_seen_at": now})  # (not reached)

    def menu(self, kiosk: Kiosk, session_id: str) -> MenuView:
        s = self._authenticated_session(kiosk, session_id, provisional=True)  # card-app: the type precedes the PIN
        menu = self._call(
            lambda: self.gateway.menu(
                s["tenant"],
                s["resident_id"],
                at=self.clock.now(),
                cert_serial=s["cert_serial"],
                card_app_user_id=s["card_app_user_id"],
            )
        )
        return menu_view(menu)

    # ---- orders ----

    def create_order(self, kiosk: Kiosk, session_id: str, body: OrderBody) -> OrderQuoted:
        s = self._authenticated_session(kiosk, session_id, touch=False)  # touched with the order's insert
        now = self.clock.now()
        try:
            request = IssueRequest(
                tenant=s["tenant"],
                resident_id=s["resident_id"],
                type=CertificateType(body.type),
                kind=IssuanceKind(body.kind),
                members=tuple(body.members),
                items=tuple(body.items),
                copies=body.copies,
                fiscal_year=body.fiscal_year,
            )
        except ValueError as exc:
            raise _err(
                400,
                "invalid-request",
                f"unknown certificate type or kind: {exc}",
                "証明書の種類または交付種別が不正です。",
            ) from None
        try:
            quote = self.gateway.quote(
                request, at=now, cert_serial=s["cert_serial"], card_app_user_id=s["card_app_user_id"]
            )
        except NotEligible as exc:
            with self._tx() as conn:
                audit(conn, kiosk.kiosk_id).append(
                    "order.refused",
                    now,
                    session=session_id,
                    kiosk=kiosk.kiosk_id,
                    store=kiosk.store_id,
                    tenant=s["tenant"],
                    cert_serial=s["cert_serial"],
                    type=request.type.value,
                    outcome=",".join(r.code.value for r in exc.refusals),
                )
            raise refused(exc.refusals) from None
        except KofuError as exc:
            raise issuer_unavailable(exc) from exc
        except Exception as exc:
            raise issuer_unavailable(exc) from exc
        oid = new_id()
        total = quote.fee_each * quote.copies
        quoted = OrderQuoted(oid, OrderStatus.QUOTED.value, quote.fee_each, total, quote.copies)
        with self._tx() as conn:
            # the session again, under its lock: it may have expired or been used up while quoting
            self._touch_authenticated(conn, kiosk, session_id, now)
            conn.execute(
                _INSERT_ORDER,
                dict(
                    order_id=oid,
                    session_id=session_id,
                    kiosk_id=kiosk.kiosk_id,
                    store_id=kiosk.store_id,
                    tenant=s["tenant"],
                    resident_id=s["resident_id"],
                    cert_serial=s["cert_serial"],
                    card_app_user_id=s["card_app_user_id"],
                    type=request.type.value,
                    kind=request.kind.value,
                    members=json.dumps(list(request.members)),
                    items=json.dumps(list(request.items)),
                    copies=quote.copies,
                    fiscal_year=request.fiscal_year,
                    fee_each=quote.fee_each,
                    total=total,
                    paid=0,
                    refunded=0,
                    change=0,
                    status=OrderStatus.QUOTED.value,
                    void_pending=False,
                    created_at=now,
                    updated_at=now,
                ),
            )
            audit(conn, kiosk.kiosk_id).append(
                "order.quoted",
                now,
                order=oid,
                session=session_id,
                kiosk=kiosk.kiosk_id,
                store=kiosk.store_id,
                tenant=s["tenant"],
                cert_serial=s["cert_serial"],
                type=request.type.value,
                copies=quote.copies,
                fee_each=quote.fee_each,
                total=total,
            )
            self._answer(quoted)
        return quoted

    def pay(self, kiosk: Kiosk, order_id: str, coins: dict[str, int]) -> PaymentState:
        parsed = model.parse_coins(coins)
        amount = model.coin_total(parsed)

        def act(conn: Connection, o: RowMapping, now: datetime) -> PaymentState:
            status = OrderStatus(o["status"])
            if status is not OrderStatus.QUOTED:
                raise _err(
                    409,
                    "not-accepting-payment",
                    f"the order is {status.value}; no payment is accepted",
                    "この注文は入金を受け付けていません。",
                )
            paid = int(o["paid"]) + amount
            new_status = model.transition(status, OrderStatus.PAID) if paid >= o["total"] else status
            if amount:
                conn.execute(
                    _INSERT_PAYMENT,
                    {
                        "id": new_id(),
                        "order_id": order_id,
                        "kind": "in",
                        "amount": amount,
                        "coins": _coins_json(parsed),
                        "at": now,
                    },
                )
            conn.execute(
                _UPDATE_ORDER, {"w_order_id": order_id, "paid": paid, "status": new_status.value, "updated_at": now}
            )
            audit(conn, kiosk.kiosk_id).append(
                "payment.in",
                now,
                order=order_id,
                kiosk=kiosk.kiosk_id,
                store=kiosk.store_id,
                amount=amount,
                paid=paid,
                total=int(o["total"]),
                outcome=new_status.value,
            )
            state = PaymentState(order_id, paid, int(o["total"]), model.due(int(o["total"]), paid), new_status.value)
            self._answer(state)
            return state

        state = self._order_action(kiosk, order_id, act)
        fault_point("center", "after-payment")
        return state

    def documents(self, kiosk: Kiosk, order_id: str) -> Delivery:
        """Issues the paid order's certificate. Calling again while delivered re-issues (the issuer voids
        the earlier document of the order), so a lost answer never leaves two live certificates."""

        def claim(conn: Connection, o: RowMapping, now: datetime) -> RowMapping:
            status = OrderStatus(o["status"])
            if status is OrderStatus.QUOTED:
                raise _err(
                    409,
                    "payment-due",
                    f"Please insert {model.due(o['total'], o['paid'])} yen more.",
                    f"あと{model.due(o['total'], o['paid'])}円を投入してください。",
                )
            if status not in (OrderStatus.PAID, OrderStatus.DELIVERED):
                raise _err(
                    409, "order-state", f"the order is {status.value}", f"この注文は現在「{status.value}」です。"
                )
            model.transition(status, OrderStatus.ISSUING)
            conn.execute(
                _UPDATE_ORDER, {"w_order_id": order_id, "status": OrderStatus.ISSUING.value, "updated_at": now}
            )
            return o

        o = self._order_action(kiosk, order_id, claim)
        request = IssueRequest(
            tenant=o["tenant"],
            resident_id=o["resident_id"],
            type=CertificateType(o["type"]),
            kind=IssuanceKind(o["kind"]),
            members=tuple(json.loads(o["members"])),
            items=tuple(json.loads(o["items"])),
            copies=int(o["copies"]),
            fiscal_year=o["fiscal_year"],
        )
        try:
            doc = self.gateway.issue(
                request,
                at=self.clock.now(),
                order_id=order_id,
                cert_serial=o["cert_serial"],
                card_app_user_id=o["card_app_user_id"],
            )
        except NotEligible as exc:
            self._close_after_failure(kiosk, order_id, "refused", ",".join(r.code.value for r in exc.refusals))
            raise refused(exc.refusals) from None
        except Exception as exc:
            self._close_after_failure(kiosk, order_id, "issuer-unavailable", type(exc).__name__)
            raise issuer_unavailable(exc) from exc
        fault_point("center", "after-document-creation")
        return self._deliver(kiosk, order_id, doc)

    def _deliver(self, kiosk: Kiosk, order_id: str, doc: IssuedDocument) -> Delivery:
        now = self.clock.now()
        job_id = new_id()
        late: _Closing | None = None
        delivery: Delivery | None = None
        with self._tx() as conn:
            o = (
                conn.execute(
                    _DELIVER,
                    {
                        "w_order_id": order_id,
                        "status": OrderStatus.DELIVERED.value,
                        "number": doc.number,
                        "document_sha256": doc.pdf_sha256,
                        "job_id": job_id,
                        "issued_at": now,
                        "updated_at": now,
                    },
                )
                .mappings()
                .first()
            )
            if o is None:  # closed meanwhile (timeout, cancel): void at once
                self._lock_order(conn, order_id)  # an unknown order: 404, as before
                late = _Closing(order_id, doc.tenant, doc.number, "late-delivery", kiosk_id=kiosk.kiosk_id)
                audit(conn, kiosk.kiosk_id).append(
                    "order.late-delivery",
                    now,
                    order=order_id,
                    tenant=doc.tenant,
                    number=doc.number,
                    pdf_sha256=doc.pdf_sha256,
                )
            else:
                audit(conn, kiosk.kiosk_id).append(
                    "order.delivered",
                    now,
                    order=order_id,
                    session=o["session_id"],
                    kiosk=kiosk.kiosk_id,
                    store=kiosk.store_id,
                    tenant=doc.tenant,
                    cert_serial=o["cert_serial"],
                    number=doc.number,
                    pdf_sha256=doc.pdf_sha256,
                    copies=doc.copies,
                    total=int(o["total"]),
                    paid=int(o["paid"]),
                )
                job = PrintJob(job_id, order_id, o["cert_serial"], doc.pdf_sha256, doc.copies, b64(doc.pdf))
                delivery = Delivery(order_id, OrderStatus.DELIVERED.value, [job])
                self._answer(delivery)  # never stored with its document: the row records only that it ran
        if late is not None or delivery is None:
            if late is not None:
                self._void(late)
            raise _err(
                410,
                "order-expired",
                "The order timed out; the payment was refunded.",
                "時間切れのため注文を取り消し、返金しました。",
            )
        return delivery

    def _close_after_failure(self, kiosk: Kiosk, order_id: str, reason: str, outcome: str) -> None:
        closing: _Closing | None = None
        with self._tx() as conn:
            o = self._lock_order(conn, order_id)
            if o["status"] == OrderStatus.ISSUING.value:
                closing = self._close(conn, o, self.clock.now(), reason, outcome=outcome)
        if closing is not None:
            self._void(closing)

    def print_result(
        self, kiosk: Kiosk, order_id: str, job_id: str, ok: bool, error: str | None = None
    ) -> OrderOutcome:
        fault_point("center", "before-print-result")

        def act(conn: Connection, o: RowMapping, now: datetime) -> tuple[OrderOutcome, _Closing | None]:
            status = OrderStatus(o["status"])
            if status is not OrderStatus.DELIVERED:
                raise _err(
                    409,
                    "order-state",
                    f"the order is {status.value}; no print job is pending",
                    "印刷待ちの証明書はありません。",
                )
            if job_id != o["job_id"]:
                raise _err(
                    409,
                    "job-mismatch",
                    "This print job does not belong to the order's current document.",
                    "印刷ジョブが注文と一致しません。",
                )
            if not ok:
                reason = _reason_code(error, "print-failed")
                closing = self._close(conn, o, now, "print-failed", outcome=reason)
                failed = OrderOutcome(order_id, OrderStatus.REFUNDED.value, refund=int(o["paid"]))
                self._answer(failed)
                return failed, closing
            model.transition(status, OrderStatus.COMPLETED)
            change = model.change(int(o["total"]), int(o["paid"]))
            if change:
                conn.execute(
                    _INSERT_PAYMENT,
                    {
                        "id": new_id(),
                        "order_id": order_id,
                        "kind": "change",
                        "amount": change,
                        "coins": _coins_json(model.change_coins(change)),
                        "at": now,
                    },
                )
            conn.execute(
                _UPDATE_ORDER,
                {
                    "w_order_id": order_id,
                    "status": OrderStatus.COMPLETED.value,
                    "change": change,
                    "updated_at": now,
                    "closed_at": now,
                },
            )
            audit(conn, kiosk.kiosk_id).append(
                "order.completed",
                now,
                order=order_id,
                kiosk=kiosk.kiosk_id,
                store=kiosk.store_id,
                tenant=o["tenant"],
                cert_serial=o["cert_serial"],
                number=o["number"],
                pdf_sha256=o["document_sha256"],
                total=int(o["total"]),
                paid=int(o["paid"]),
                change=change,
            )
            receipt = Receipt(
                order_id=order_id,
                municipality=str(o["session_municipality"] or o["tenant"]),
                title_ja=CertificateType(o["type"]).title_ja,
                copies=int(o["copies"]),
                fee_each=int(o["fee_each"]),
                total=int(o["total"]),
                paid=int(o["paid"]),
                change=change,
                issued_at=o["issued_at"],
                number=number_text(o["tenant"], int(o["number"])),
            )
            outcome = OrderOutcome(order_id, OrderStatus.COMPLETED.value, change=change, receipt=receipt)
            self._answer(outcome)
            return outcome, None

        outcome, closing = self._order_action(kiosk, order_id, act)
        if closing is not None:
            self._void(closing)
        return outcome

    def cancel(self, kiosk: Kiosk, order_id: str) -> OrderOutcome:
        def act(conn: Connection, o: RowMapping, now: datetime) -> tuple[OrderOutcome, _Closing | None]:
            status = OrderStatus(o["status"])
            if status is OrderStatus.ISSUING:
                raise _err(
                    409, "issuing", "The certificate is being issued; cancel after it arrives.", "証明書を発行中です。"
                )
            if status.final:
                raise _err(
                    409,
                    "order-closed",
                    f"the order is already {status.value}",
                    f"この注文は既に「{status.value}」です。",
                )
            closing = self._close(conn, o, now, "cancelled", outcome="cancelled")
            refund = int(o["paid"])
            cancelled = OrderOutcome(order_id, model.end_without_issuing(refund).value, refund=refund)
            self._answer(cancelled)
            return cancelled, closing

        outcome, closing = self._order_action(kiosk, order_id, act)
        if closing is not None:
            self._void(closing)
        return outcome

    # ---- order plumbing ----

    def _lock_order(self, conn: Connection, order_id: str) -> RowMapping:
        row = conn.execute(_ORDER_LOCKED, {"order_id": order_id}).mappings().first()
        if row is None:
            raise _err(404, "unknown-order", "No such order.", "注文が見つかりません。")
        return row

    def _order_action(self, kiosk: Kiosk, order_id: str, act: Callable[[Connection, RowMapping, datetime], T]) -> T:
        """Runs `act` on the locked order, after the ownership and expiry checks. An order past its timeout
        is closed (refund, void) and answered with 410."""
        now = self.clock.now()
        expired: _Closing | None = None
        with self._tx() as conn:
            o = self._lock_order(conn, order_id)
            if o["kiosk_id"] != kiosk.kiosk_id:
                raise _err(
                    403, "foreign-order", "This order belongs to another kiosk.", "この注文は別の端末のものです。"
                )
            status = OrderStatus(o["status"])
            if status.final and o["close_reason"] == "timeout":
                raise _gone()
            if not status.final and model.is_stale(o["updated_at"], now, self.settings.order_timeout):
                expired = self._close(conn, o, now, "timeout", outcome="timeout")
            else:
                result = act(conn, o, now)
                conn.execute(_UPDATE_SESSION, {"w_session_id": o["session_id"], "last_seen_at": now})
        if expired is not None:
            self._void(expired)
            raise _gone()
        return result

    def _close(self, conn: Connection, o: RowMapping, now: datetime, reason: str, *, outcome: str) -> _Closing:
        """Ends an order short of completion inside the caller's transaction: refunds everything paid and
        marks an issued document for voiding (done right after commit; retried by `expire`)."""
        paid = int(o["paid"])
        status = model.end_without_issuing(paid)
        model.transition(OrderStatus(o["status"]), status)
        if paid:
            conn.execute(
                _INSERT_PAYMENT,
                {
                    "id": new_id(),
                    "order_id": o["order_id"],
                    "kind": "refund",
                    "amount": paid,
                    "coins": _coins_json(model.change_coins(paid)),
                    "at": now,
                },
            )
        issued = o["number"] is not None
        # closed while issuing: the issuer may have issued (a first document, or a re-issue replacing the known
        # one) and the answer never arrived (crash, cut link) — void every live issuance of the order
        unknown = o["status"] == OrderStatus.ISSUING.value
        conn.execute(
            _UPDATE_ORDER,
            {
                "w_order_id": o["order_id"],
                "status": status.value,
                "refunded": paid,
                "close_reason": reason,
                "void_pending": issued or unknown,
                "updated_at": now,
                "closed_at": now,
            },
        )
        audit(conn, o["kiosk_id"]).append(
            f"order.{status.value}",
            now,
            order=o["order_id"],
            kiosk=o["kiosk_id"],
            store=o["store_id"],
            tenant=o["tenant"],
            cert_serial=o["cert_serial"],
            number=o["number"],
            pdf_sha256=o["document_sha256"],
            paid=paid,
            refund=paid,
            outcome=outcome,
        )
        return _Closing(o["order_id"], o["tenant"], o["number"], reason, by_order=unknown, kiosk_id=o["kiosk_id"])

    def _void(self, closing: _Closing) -> None:
        """Voids the order's issuance at the issuer; on failure the order keeps `void_pending` for `expire`."""
        voided: list[tuple[str, int]] = []
        try:
            if closing.by_order:
                voided = self.gateway.void_order(closing.order_id, reason=closing.reason)
            elif closing.number is not None:
                self.gateway.void(closing.tenant, closing.number, reason=closing.reason)
            else:
                return
        except Exception:
            return
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(_UPDATE_ORDER, {"w_order_id": closing.order_id, "void_pending": False})
            # by order: one entry per issuance voided, or one without a number (nothing was live there)
            entries: list[tuple[str, int | None]] = [(t, n) for t, n in voided] or [(closing.tenant, closing.number)]
            for tenant, number in entries:
                audit(conn, closing.kiosk_id).append(
                    "order.voided", now, order=closing.order_id, tenant=tenant, number=number, outcome=closing.reason
                )

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NotEligible as exc:
            raise refused(exc.refusals) from None
        except CenterError:
            raise
        except Exception as exc:
            raise issuer_unavailable(exc) from exc

    # ---- expiry ----

    def expire(self, now: datetime | None = None, *, session_id: str | None = None) -> list[str]:
        """Closes idle sessions and stale orders (refund + void, atomically per order) and retries pending
        voids. Returns the ids of the orders it closed."""
        now = now or self.clock.now()
        idle_before = now - self.settings.session_idle
        stale_before = now - self.settings.order_timeout
        live = [
            OrderStatus.QUOTED.value,
            OrderStatus.PAID.value,
            OrderStatus.ISSUING.value,
            OrderStatus.DELIVERED.value,
        ]
        live_sessions = ["open", cardapp.PROVISIONAL, "authenticated"]
        idle = (sessions.c.status.in_(live_sessions), sessions.c.last_seen_at <= idle_before)
        q = select(sessions.c.session_id, sessions.c.kiosk_id).where(*idle)
        if session_id is not None:
            q = q.where(sessions.c.session_id == session_id)
        with self.engine.connect() as conn:
            idle_sessions = conn.execute(q).all()
        # One transaction per session: its row lock first, its kiosk's audit chain last — the order every kiosk
        # call keeps. Expiring many sessions in one transaction took a session's row lock while holding another
        # kiosk's chain lock, which deadlocked against that kiosk's own calls on PostgreSQL.
        for sid, kiosk_id in idle_sessions:
            with self.engine.begin() as conn:
                hit = conn.execute(update(sessions).where(sessions.c.session_id == sid, *idle).values(status="expired"))
                if hit.rowcount:  # still idle under the lock: the kiosk may have come back meanwhile
                    audit(conn, kiosk_id).append("session.expired", now, session=sid)
        with self.engine.begin() as conn:
            expired_sessions = select(sessions.c.session_id).where(sessions.c.status == "expired")
            oq = select(orders.c.order_id).where(
                orders.c.status.in_(live),
                (orders.c.updated_at <= stale_before) | orders.c.session_id.in_(expired_sessions),
            )
            if session_id is not None:
                oq = oq.where(orders.c.session_id == session_id)
            candidates = [r[0] for r in conn.execute(oq).all()]
            conn.execute(delete(idempotency).where(idempotency.c.created_at < now - self.settings.idempotency_keep))
        closed: list[str] = []
        for oid in candidates:
            closing: _Closing | None = None
            with self.engine.begin() as conn:
                o = self._lock_order(conn, oid)
                if o["status"] in live:  # re-checked under the lock: another process may have acted
                    closing = self._close(conn, o, now, "timeout", outcome="timeout")
            if closing is not None:
                closed.append(oid)
                self._void(closing)
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(
                    orders.c.order_id, orders.c.tenant, orders.c.number, orders.c.close_reason, orders.c.kiosk_id
                ).where(orders.c.void_pending.is_(True))
            ).all()
        for oid, tenant, number, reason, kiosk_id in pending:
            # a refunded order: whatever is still live at the issuer for it goes, known number or not
            self._void(_Closing(oid, tenant, number, reason or "timeout", by_order=True, kiosk_id=kiosk_id))
        return closed

    # ---- idempotency ----

    def idempotent(
        self, kiosk_id: str, key: str, request_sha256: str, *, store: bool, render: Callable[[object], str]
    ) -> Idempotency:
        """The idempotency context of one POST (see `Idempotency`): `with service.idempotent(…) as idem:`
        around the step. `render` makes the stored JSON of a successful answer (unused when not `store`)."""
        if not key or len(key) > 128:
            raise _err(
                400,
                "idempotency-key-required",
                "An Idempotency-Key header (1–128 characters) is required.",
                "Idempotency-Key ヘッダが必要です。",
            )
        return Idempotency(self, kiosk_id, key, request_sha256, store, render)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A writer transaction of the running step: `engine.begin()`, and before it commits, the step's
        idempotency row (held, or with its answer) in the same transaction (see `Idempotency`)."""
        with self.engine.begin() as conn:
            yield conn
            idem = _IDEM.get()
            if idem is not None and idem.service is self:
                self._idem_write(conn, idem)

    def _answer(self, result: object) -> None:
        """The step's answer, stored by the step transaction that is about to commit."""
        idem = _IDEM.get()
        if idem is not None and idem.service is self:
            idem.answer(200, result)

    def _idem_write(self, conn: Connection, idem: Idempotency) -> None:
        if not idem.held:
            status, response = idem.pending if idem.pending else (None, None)
            values = {
                "kiosk_id": idem.kiosk_id,
                "key": idem.key,
                "request_sha256": idem.request_sha256,
                "status_code": status,
                "response": response,
                "created_at": self.clock.now(),
            }
            done = conn.execute(_IDEM_INSERT_PG if conn.dialect.name == "postgresql" else _IDEM_INSERT_SQLITE, values)
            if done.first() is None:  # the key is taken: another body, still running, or answered
                row = self._idem_row(conn, idem)
                assert row is not None
                _take_over_or_raise(row, idem)
                self._idem_update(conn, idem)
            idem.held = True
            idem.written = idem.pending is not None
        elif idem.pending is not None and not idem.written:
            self._idem_update(conn, idem)
            idem.written = True

    def _idem_row(self, conn: Connection, idem: Idempotency) -> RowMapping | None:
        return conn.execute(_IDEM_ROW_LOCKED, {"kiosk_id": idem.kiosk_id, "key": idem.key}).mappings().first()

    def _idem_update(self, conn: Connection, idem: Idempotency) -> None:
        status, response = idem.pending if idem.pending else (None, None)
        conn.execute(
            _IDEM_UPDATE, {"w_kiosk_id": idem.kiosk_id, "w_key": idem.key, "status_code": status, "response": response}
        )

    def _idem_store(self, idem: Idempotency) -> None:
        """Writes `idem.pending` in a transaction of its own."""
        idem.written = False
        with self.engine.begin() as conn:
            self._idem_write(conn, idem)

    def _idem_abort(self, idem: Idempotency) -> None:
        if not idem.held:
            return
        i = idempotency
        with self.engine.begin() as conn:
            conn.execute(delete(i).where(i.c.kiosk_id == idem.kiosk_id, i.c.key == idem.key, i.c.status_code.is_(None)))

    # ---- audit ----

    def verify_audit(self) -> list[Problem]:
        return verify_center_audit(self.engine)

    def money_balance(self, order_id: str) -> dict[str, int]:
        """Coins in, refunds and change recorded for an order (for reconciliation and tests)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(payments.c.kind, payments.c.amount).where(payments.c.order_id == order_id)).all()
        out = {"in": 0, "refund": 0, "change": 0}
        for kind, amount in rows:
            out[kind] += int(amount)
        return out


def verify_center_audit(engine: Engine) -> list[Problem]:
    from kofu.center.store import center_audit

    with engine.connect() as conn:
        return AuditLog(conn, center_audit).verify()


def _gone() -> CenterError:
    return _err(
        410,
        "order-expired",
        "The order timed out; any payment was refunded.",
        "時間切れのため注文を取り消しました。投入金額は返金します。",
    )


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# ---- idempotency: the key's row is written by the step's own transactions ----


class Replay(Exception):
    """Not an error: the stored answer of an earlier identical request, to be sent again."""

    def __init__(self, status: int, response: str) -> None:
        super().__init__(status)
        self.status = status
        self.response = response


class IdempotencyConflict(CenterError):
    """The key belongs to another body, or to the same request still running: answered, never stored."""


def _take_over_or_raise(row: RowMapping, idem: Idempotency) -> None:
    """Another request holds the key: 409 if its body differs or it is still running; its stored answer
    (`Replay`) if it has one; otherwise (an answer that is never stored: documents) this request runs again."""
    if row["request_sha256"] != idem.request_sha256:
        raise IdempotencyConflict(
            409,
            "idempotency-key-reused",
            "This Idempotency-Key was used for another request.",
            "この Idempotency-Key は別の要求に使用済みです。",
        )
    if row["status_code"] is None:
        raise IdempotencyConflict(
            409, "in-progress", "The same request is still being processed.", "同じ要求を処理中です。"
        )
    if row["response"] is not None:
        raise Replay(int(row["status_code"]), str(row["response"]))


class Idempotency:
    """One POST's (kiosk, Idempotency-Key) while its step runs, written by the step's own transactions.

    The first writer transaction of the step inserts the row — with the answer when it is already known:
    a one-writer step (open session, authenticate, order, payment, print result, cancel) stores key and
    answer in the transaction that does the work; documents holds the key as in progress in its claim and
    its delivery transaction stores the answer. If the key is taken, that transaction rolls back
    whatever the step did and the request is answered from the row: 409 `idempotency-key-reused` for
    another body, 409 `in-progress` while the first request runs, or the stored answer (`Replay`). An error
    answer is stored in a transaction of its own, after the step's transaction rolled back."""

    def __init__(
        self,
        service: CenterService,
        kiosk_id: str,
        key: str,
        request_sha256: str,
        store: bool,
        render: Callable[[object], str],
    ) -> None:
        self.service = service
        self.kiosk_id = kiosk_id
        self.key = key
        self.request_sha256 = request_sha256
        self.store = store
        self.render = render
        self.pending: tuple[int, str | None] | None = None  # the answer to store
        self.rendered: str | None = None  # the JSON of the successful answer, when stored
        self.held = False  # the row is this request's in the database
        self.written = False  # `pending` is in the row
        self._token: Token[Idempotency | None] | None = None

    def __enter__(self) -> Idempotency:
        self._token = _IDEM.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _IDEM.reset(self._token)

    def answer(self, status: int, result: object) -> None:
        self.rendered = self.render(result) if self.store else None
        self.pending = (status, self.rendered)
        self.written = False

    def finish_ok(self, result: object) -> None:
        """After the step: stores its answer if no step transaction did (a step without writes)."""
        if not self.written:
            self.answer(200, result)
            self.service._idem_store(self)

    def finish_error(self, status: int, response: str) -> None:
        """Stores an error answer; raises `Replay`/`IdempotencyConflict` if the key turned out to be taken."""
        self.pending = (status, response)
        self.service._idem_store(self)

    def abort(self) -> None:
        """The step died (not an answer): frees a key still held as in progress."""
        self.service._idem_abort(self)


_IDEM: ContextVar[Idempotency | None] = ContextVar("kofu_center_idempotency", default=None)


def _coins_json(coins: dict[int, int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(coins.items())}, sort_keys=True)


def _signature_ok(cert: x509.Certificate, signature: bytes, data: bytes) -> bool:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
