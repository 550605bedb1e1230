"""The JPKI authority (J-LIS's role): issues user certificates for card-generated keys, revokes them,
publishes CRLs and answers OCSP.

    authority = Authority(engine, keys_dir / "jpki", clock)
    cert = authority.issue_auth_certificate(card_public_key, birth_date=..., issued_at=clock.now())
    authority.revoke(cert.serial_number, RevocationReason.LOSS, clock.now())

Every method that writes takes an optional `conn`: pass one to act inside your own transaction
(e.g. the window operation that also links the card in the registry); otherwise the authority opens
and commits its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import RowMapping

from kofu.common.clock import Clock
from kofu.common.errors import InvalidInput, NotFound
from kofu.jpki.ca import CertificateAuthority
from kofu.jpki.model import CertificateRecord, CertKind, RevocationReason, SignHolder, serial_hex
from kofu.jpki.ocsp import respond as ocsp_respond
from kofu.jpki.store import JpkiStore

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
T = TypeVar("T")


class Authority:
    """Both JPKI CAs over one database. Stateless apart from the CA keys: any number of processes may
    share a database and a keys directory."""

    def __init__(
        self,
        engine: Engine,
        keys_dir: Path,
        clock: Clock,
        *,
        base_url: str = DEFAULT_BASE_URL,
        crl_validity: timedelta = timedelta(hours=24),
        ocsp_validity: timedelta = timedelta(hours=1),
    ) -> None:
        self.engine = engine
        self.keys_dir = keys_dir
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.crl_validity = crl_validity
        self.ocsp_validity = ocsp_validity
        now = clock.now()
        self._cas = {kind: CertificateAuthority.load_or_create(keys_dir, kind, now=now) for kind in CertKind}

    # ---- plumbing ----

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[JpkiStore]:
        if conn is not None:
            yield JpkiStore(conn)
            return
        with self.engine.begin() as own:
            yield JpkiStore(own)

    def _read(self, fn: Callable[[JpkiStore], T]) -> T:
        with self.engine.connect() as conn:
            return fn(JpkiStore(conn))

    def ca(self, kind: CertKind | str) -> CertificateAuthority:
        return self._cas[CertKind(kind)]

    def ca_certificate(self, kind: CertKind | str) -> x509.Certificate:
        return self.ca(kind).certificate

    def ca_pem(self, kind: CertKind | str) -> bytes:
        return self.ca(kind).pem

    @property
    def trust_roots(self) -> list[x509.Certificate]:
        return [ca.certificate for ca in self._cas.values()]

    # ---- issuing ----

    def _issue(
        self,
        kind: CertKind,
        public_key: PublicKeyTypes,
        birth_date: date,
        issued_at: datetime,
        holder: SignHolder | None,
        conn: Connection | None,
    ) -> x509.Certificate:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise InvalidInput("JPKI user keys are RSA-2048 keys generated on the card")
        cert = self._cas[kind].issue(
            public_key, birth_date=birth_date, issued_at=issued_at, base_url=self.base_url, holder=holder
        )
        with self._tx(conn) as store:
            store.add(
                kind,
                cert.serial_number,
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
                cert.public_bytes(serialization.Encoding.DER),
            )
        return cert

    def issue_auth_certificate(
        self, public_key: PublicKeyTypes, *, birth_date: date, issued_at: datetime, conn: Connection | None = None
    ) -> x509.Certificate:
        """利用者証明用電子証明書 for a key generated on the card: `C=JP, CN=<opaque id>`, no personal data."""
        return self._issue(CertKind.AUTH, public_key, birth_date, issued_at, None, conn)

    def issue_sign_certificate(
        self,
        public_key: PublicKeyTypes,
        *,
        name: str,
        sex: str,
        birth_date: date,
        address: str,
        issued_at: datetime,
        name_kana: str | None = None,
        alt_address: str | None = None,
        conn: Connection | None = None,
    ) -> x509.Certificate:
        """署名用電子証明書: the holder's name, sex ("male"/"female"/"unknown"), birth date and address
        as SubjectAltName otherNames."""
        holder = SignHolder(
            name=name,
            sex=str(sex),
            birth_date=birth_date,
            address=address,
            name_kana=name_kana,
            alt_address=alt_address,
        )
        return self._issue(CertKind.SIGN, public_key, birth_date, issued_at, holder, conn)

    # ---- revocation ----

    def revoke(
        self, serial: str | int, reason: RevocationReason | str, at: datetime, *, conn: Connection | None = None
    ) -> CertificateRecord:
        """Revokes a certificate. Unknown serial: `NotFound`; already revoked: `Conflict` (code already-revoked)."""
        try:
            why = RevocationReason(reason)
        except ValueError:
            raise InvalidInput(
                f"unknown revocation reason {reason!r}; one of {', '.join(r.value for r in RevocationReason)}"
            ) from None
        with self._tx(conn) as store:
            store.revoke(serial, why, at)
            record = store.get(serial)
        assert record is not None
        return record

    def status(self, serial: str | int) -> CertificateRecord:
        record = self._read(lambda s: s.get(serial))
        if record is None:
            raise NotFound(
                f"no JPKI certificate with serial {serial}", f"シリアル番号 {serial} の電子証明書はありません"
            )
        return record

    def find(self, serial: str | int) -> CertificateRecord | None:
        return self._read(lambda s: s.get(serial))

    # ---- CRL ----

    def current_crl(self, kind: CertKind | str, *, now: datetime | None = None) -> bytes:
        """The CA's CRL (DER). Reused until a revocation makes it stale or half its validity has passed;
        each new CRL gets the next CRL number."""
        kind = CertKind(kind)
        now = (now or self.clock.now()).replace(microsecond=0)
        state = self._read(lambda s: s.crl_state(kind))
        if state is not None and self._fresh(state, now):
            return bytes(state["der"])
        with self.engine.begin() as conn:
            store = JpkiStore(conn)
            state = store.crl_state(kind, lock=True)
            assert state is not None
            if self._fresh(state, now):
                return bytes(state["der"])
            number = int(state["number"]) + 1
            next_update = now + self.crl_validity
            builder = (
                x509.CertificateRevocationListBuilder()
                .last_update(now)
                .next_update(next_update)
                .add_extension(x509.CRLNumber(number), critical=False)
            )
            for serial, revoked_at, reason in store.revoked(kind, not_expired_at=now):
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(serial, 16))
                    .revocation_date(revoked_at.replace(microsecond=0))
                    .add_extension(x509.CRLReason(reason.rfc5280), critical=False)
                    .build()
                )
            der = self._cas[kind].sign_crl(builder).public_bytes(serialization.Encoding.DER)
            store.save_crl(kind, number, now, next_update, der)
            return der

    @staticmethod
    def _fresh(state: RowMapping, now: datetime) -> bool:
        if state["stale"] or state["der"] is None:
            return False
        this_update: datetime = state["this_update"]
        next_update: datetime = state["next_update"]
        return this_update <= now < this_update + (next_update - this_update) / 2

    # ---- OCSP ----

    def respond(self, request_der: bytes, now: datetime | None = None) -> bytes:
        """An RFC 6960 response (DER) to a DER request; never raises on bad input."""
        at = (now or self.clock.now()).replace(microsecond=0)
        return ocsp_respond(self._cas, self._lookup, request_der, at, self.ocsp_validity)

    def _lookup(self, kind: CertKind, serial: int) -> CertificateRecord | None:
        record = self._read(lambda s: s.get(serial_hex(serial)))
        return record if record is not None and record.kind is kind else None
