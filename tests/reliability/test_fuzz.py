"""Fuzzing what comes from outside (hypothesis), beyond the APDU fuzzing of tests/card and the
single-cell CSV corruptions of tests/registry:

- certificates at the center: random bytes and bit flips / truncations of a real card's DER, signed
  correctly or not — always a 4xx with English and Japanese messages, never a session;
- QR statements at the verifier: any text and any single-character change of a real statement — never
  an exception, never VALID unless unchanged;
- residents.csv as bytes: random bytes, bytes of a valid file with a byte flipped, cut or inserted —
  imported whole or rejected with problems, nothing written when rejected, never another exception."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from kofu.center.client import CenterRefused
from kofu.center.protocol import challenge_bytes
from kofu.common.clock import FixedClock
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.tenant import CertificateType
from kofu.registry.csvio import ImportRejected, import_directory
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome
from tests.center.conftest import Rig, rig  # noqa: F401  (the fixture)
from tests.issuer.conftest import world  # noqa: F401  (the fixture)
from tests.registry.conftest import RESIDENT_HEADER, sample_residents, write_csv
from tests.reliability.conftest import size

pytestmark = [pytest.mark.reliability]

EXAMPLES = size(40, 1000)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def mutate(data: bytes, how: str, at: int, value: int) -> bytes:
    i = at % max(1, len(data))
    if how == "flip":
        return data[:i] + bytes([data[i] ^ (1 << (value % 8))]) + data[i + 1 :] if data else data
    if how == "cut":
        return data[:i]
    if how == "insert":
        return data[:i] + bytes([value % 256]) + data[i:]
    return data[:i] + data[i + 1 :]  # delete


MUTATION = st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 10**6), st.integers(0, 255))


def test_malformed_certificates_are_refused_with_a_clear_message(rig: Rig) -> None:  # noqa: F811
    center = rig.kiosk()
    card = rig.card("R1")
    card.verify_auth_pin("1234")
    real = card.read_auth_certificate()
    outcomes: list[int] = []

    @FUZZ
    @given(
        cert=st.one_of(st.binary(max_size=2048), MUTATION.map(lambda m: mutate(real, *m))),
        sign_properly=st.booleans(),
    )
    def attempt(cert: bytes, sign_properly: bool) -> None:
        opened = center.open_session()
        message = challenge_bytes(opened.session_id, "K1", opened.nonce)
        signature = card.sign_auth_sha256(message) if sign_properly else b"\x00" * 256
        try:
            center.authenticate_jpki(opened.session_id, cert, signature)
        except CenterRefused as exc:
            assert 400 <= exc.status < 500, (exc.status, exc.code, exc.message_en)
            assert exc.message_en and exc.message_ja
            outcomes.append(exc.status)
            return
        assert cert == real and sign_properly, "a changed certificate was accepted"

    attempt()
    assert outcomes


def test_qr_statements_never_crash_and_never_pass_when_changed(rig: Rig) -> None:  # noqa: F811
    issued = rig.world.issuer.issue(IssueRequest(tenant="282286", resident_id="R1", type=CertificateType.JUMINHYO))
    verifier = rig.world.verifier
    assert verifier.verify_statement(issued.statement).outcome is Outcome.VALID

    @FUZZ
    @given(
        text=st.one_of(
            st.text(max_size=700),
            st.tuples(st.integers(0, 10**6), st.characters(codec="ascii")).map(
                lambda m: (
                    issued.statement[: m[0] % len(issued.statement)]
                    + m[1]
                    + issued.statement[m[0] % len(issued.statement) + 1 :]
                )
            ),
            st.binary(max_size=300).map(lambda b: "KOFU1." + base64.urlsafe_b64encode(b).decode().rstrip("=") + ".x"),
        )
    )
    def check(text: str) -> None:
        verdict = verifier.verify_statement(text)
        if text != issued.statement:
            assert verdict.outcome is not Outcome.VALID, text

    check()


def test_residents_csv_bytes_import_whole_or_not_at_all(engine: Engine, tenant: str, clock: FixedClock) -> None:
    base = Path(tempfile.mkdtemp())
    write_csv(base / "residents.csv", RESIDENT_HEADER, sample_residents())
    valid = (base / "residents.csv").read_bytes()
    seen = {"imported": 0, "rejected": 0}

    @FUZZ
    @given(data=st.one_of(st.binary(max_size=600), MUTATION.map(lambda m: mutate(valid, *m))))
    def check(data: bytes) -> None:
        d = Path(tempfile.mkdtemp())
        (d / "residents.csv").write_bytes(data)
        try:
            import_directory(engine, tenant, d, clock=clock)
        except ImportRejected as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            with engine.connect() as conn:
                assert RegistryStore(conn).tenant_is_empty(tenant), "a rejected import wrote something"
            seen["rejected"] += 1
            return
        seen["imported"] += 1
        with engine.begin() as conn:  # start the next example from an empty tenant
            RegistryStore(conn).delete_tenant(tenant)

    check()
    assert seen["rejected"] > 0
