"""Window operations with a real card object, the real JPKI authority and the registry, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kofu.card.client import JpkiClient, PinBlocked, WrongPin
from kofu.card.readers import InProcessReader
from kofu.common.errors import Conflict, InvalidInput
from kofu.issuer.eligibility import IssueRequest, RefusalCode
from kofu.issuer.service import NotEligible
from kofu.issuer.tenant import CertificateType
from kofu.issuer.window import WindowService
from kofu.jpki import Authority, CertStatus, FailureReason, RevocationReason, in_process_validator
from kofu.registry.model import Death, Relocation
from kofu.registry.store import RegistryStore

from .conftest import NOW, World

T = "282286"


@dataclass
class Office:
    world: World
    window: WindowService
    authority: Authority


@pytest.fixture
def office(world: World, tmp_path: Path) -> Office:
    authority = Authority(world.engine, tmp_path / "jpki", world.clock)
    window = WindowService(world.engine, authority, world.clock, cards_dir=tmp_path / "cards", master_key=b"k" * 32)
    return Office(world, window, authority)


def client_for(office: Office, path: Path) -> JpkiClient:
    reader = InProcessReader(office.window.card_file(path).load())
    reader.connect()
    client = JpkiClient(reader)
    client.select_jpki()
    return client


def test_issued_card_carries_a_valid_certificate_linked_to_the_resident(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    assert issued.path.exists() and issued.usable_from == NOW.date() + timedelta(days=1)
    client = client_for(office, issued.path)
    cert = x509.load_der_x509_certificate(client.read_auth_certificate())
    assert f"{cert.serial_number:x}".lower().lstrip("0") == issued.auth_serial.lower().lstrip("0")
    assert "加東" not in cert.subject.rfc4514_string()  # the auth certificate holds no personal data
    with office.world.engine.connect() as conn:
        link = RegistryStore(conn).find_card(issued.auth_serial)
    assert link is not None and link.resident_id == "R1" and link.sign_serial == issued.sign_serial
    validation = in_process_validator(office.authority).validate(cert.public_bytes(_der()), at=NOW, purpose="auth")
    assert validation.ok, validation

    client.verify_auth_pin("1234")
    signature = client.sign_auth_sha256(b"center nonce")
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"center nonce", padding.PKCS1v15(), hashes.SHA256())


def _der() -> object:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_new_card_serves_kiosks_from_the_next_day(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    request = IssueRequest(T, "R1", CertificateType.JUMINHYO)
    with pytest.raises(NotEligible) as info:
        office.world.issuer.quote(request, at=NOW, cert_serial=issued.auth_serial)
    assert info.value.refusals[0].code is RefusalCode.CARD_NOT_YET_USABLE
    tomorrow = NOW + timedelta(days=1)
    assert office.world.issuer.quote(request, at=tomorrow, cert_serial=issued.auth_serial).fee_each == 250
    # another resident's card never authorises this resident
    other = office.window.issue_card(T, "R2", auth_pin="5678", sign_password="XYZ789")
    with pytest.raises(NotEligible) as crossed:
        office.world.issuer.quote(request, at=tomorrow, cert_serial=other.auth_serial)
    assert crossed.value.refusals[0].code is RefusalCode.NOT_REGISTERED


def test_cards_only_for_current_residents(office: Office) -> None:
    with pytest.raises(InvalidInput, match="current residents"):
        office.window.issue_card(T, "R4", auth_pin="1234", sign_password="ABC123")  # moved out
    with pytest.raises(InvalidInput, match="no 個人番号"):
        office.window.issue_card(T, "R3", auth_pin="1234", sign_password="ABC123")  # the test child has none


def test_death_revokes_both_certificates_in_the_same_transaction(office: Office) -> None:
    issued = office.window.issue_card(T, "R2", auth_pin="1234", sign_password="ABC123")
    applied, revoked = office.window.apply_events([Death(T, "R2", date(2026, 11, 25), date(2026, 11, 25))])
    assert applied[0].resident.status.value == "deceased"
    assert set(revoked) == {issued.auth_serial, issued.sign_serial}
    assert office.authority.status(issued.auth_serial).status is CertStatus.REVOKED
    cert = client_for(office, issued.path).read_auth_certificate()
    verdict = in_process_validator(office.authority).validate(cert, at=NOW + timedelta(minutes=1), purpose="auth")
    assert not verdict.ok and verdict.reason is FailureReason.REVOKED


def test_relocation_revokes_only_the_signing_certificate(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    event = Relocation(T, "R1", date(2026, 11, 25), date(2026, 11, 25), address="兵庫県加東市社１番地")
    _, revoked = office.window.apply_events([event])
    assert revoked == [issued.sign_serial]
    assert office.authority.status(issued.auth_serial).status is CertStatus.GOOD


def test_a_failed_event_revokes_nothing(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    good = Death(T, "R1", date(2026, 11, 25), date(2026, 11, 25))
    bad = Death(T, "R4", date(2026, 11, 25), date(2026, 11, 25))  # already moved out
    with pytest.raises(InvalidInput):
        office.window.apply_events([good, bad])
    assert office.authority.status(issued.auth_serial).status is CertStatus.GOOD


def test_loss_revokes_the_card_once(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    assert set(office.window.revoke_card(issued.auth_serial, RevocationReason.LOSS)) == {
        issued.auth_serial,
        issued.sign_serial,
    }
    with pytest.raises(Conflict):
        office.window.revoke_card(issued.auth_serial, RevocationReason.LOSS)
    with pytest.raises(NotEligible) as info:
        office.world.issuer.quote(
            IssueRequest(T, "R1", CertificateType.JUMINHYO), at=NOW + timedelta(days=2), cert_serial=issued.auth_serial
        )
    assert info.value.refusals[0].code is RefusalCode.CARD_REVOKED


def test_a_new_card_replaces_the_old_one(office: Office) -> None:
    first = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    second = office.window.issue_card(T, "R1", auth_pin="4321", sign_password="ABC123")
    assert office.authority.status(first.auth_serial).status is CertStatus.REVOKED
    assert office.authority.status(second.auth_serial).status is CertStatus.GOOD


def test_locked_pin_is_reset_at_the_window(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    client = client_for(office, issued.path)
    for tries_left in (2, 1):
        with pytest.raises(WrongPin) as wrong:
            client.verify_auth_pin("0000")
        assert wrong.value.tries_left == tries_left
    with pytest.raises((WrongPin, PinBlocked)):
        client.verify_auth_pin("0000")
    with pytest.raises(PinBlocked):
        client_for(office, issued.path).verify_auth_pin("1234")  # the lock survived reloading the card file
    office.world.clock.advance(timedelta(days=3))
    usable = office.window.reset_pin(issued.path, new_pin="9876")
    assert usable == NOW.date() + timedelta(days=4)
    fresh = client_for(office, issued.path)
    assert fresh.auth_pin_status() == 3
    fresh.verify_auth_pin("9876")


def _set_card_method(office: Office, method: str) -> None:
    import os
    import time

    from .factories import TENANT_TOML

    path = office.world.issuer.tenants.directory / "282286.toml"
    path.write_text(
        TENANT_TOML.replace('stage = "live"', f'stage = "live"\ncard_method = "{method}"'), encoding="utf-8"
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000))


def test_card_app_method_follows_the_tenant_setting(office: Office) -> None:
    issued = office.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123")
    client = client_for(office, issued.path)
    user_id = client.read_card_app_user_id()  # readable without a PIN, as on the old 住基カード application
    assert user_id == issued.user_id
    request = IssueRequest(T, "R1", CertificateType.JUMINHYO)
    tomorrow = NOW + timedelta(days=1)

    with pytest.raises(NotEligible) as info:  # the test tenant accepts only the JPKI method
        office.world.issuer.quote(request, at=tomorrow, card_app_user_id=user_id)
    assert [r.code for r in info.value.refusals] == [RefusalCode.METHOD_NOT_ACCEPTED]

    _set_card_method(office, "card-app")
    assert office.world.issuer.quote(request, at=tomorrow, card_app_user_id=user_id).fee_each == 250
    with pytest.raises(NotEligible) as jpki_refused:
        office.world.issuer.quote(request, at=tomorrow, cert_serial=issued.auth_serial)
    assert [r.code for r in jpki_refused.value.refusals] == [RefusalCode.METHOD_NOT_ACCEPTED]
    issued_doc = office.world.issuer.issue(request, at=tomorrow, card_app_user_id=user_id)
    assert issued_doc.record.cert_serial == issued.auth_serial  # the issuance records which card asked

    _set_card_method(office, "both")
    office.world.issuer.quote(request, at=tomorrow, cert_serial=issued.auth_serial)
    with pytest.raises(NotEligible):  # someone else's user ID never authorises R1
        office.world.issuer.quote(
            IssueRequest(T, "R2", CertificateType.JUMINHYO), at=tomorrow, card_app_user_id=user_id
        )
