"""Attackers against the real processes (`kofu serve jpki|issuer|center` on PostgreSQL, HTTPS and mutual TLS):
PIN guessing through kiosk processes (JPKI and card-app paths; the card file keeps the counter between
processes), kiosk impersonation, calls to the issuer that bypass the center, certificate attacks over
HTTPS, and afterwards a scan of logs, audit entries and URLs for the residents' personal data.

Every refusal is counted; `-s` prints the tally that docs/reliability.md ("Security") reports. The raw-APDU
and pcscd-restart side of PIN guessing is in tests/card/test_pin_attacks.py.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from kofu.card.cardfile import CardFile, default_master_key
from kofu.center.client import CenterClient, CenterRefused
from kofu.center.protocol import challenge_bytes
from kofu.center.store import center_audit, orders, payments, sessions
from kofu.cli.center import center_service
from kofu.issuer.audit import issuer_audit
from kofu.issuer.client import HttpIssuerGateway, client_context
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.pki import CENTER_CN, Authority, MtlsFiles, Role, create_ca, issue_leaf, key_pem, write_private
from kofu.issuer.store import issuances
from kofu.issuer.tenant import CertificateType
from kofu.jpki.ca import ca_name
from kofu.jpki.model import CertKind
from tests.card.pcsc import Pcscd, Stack, stop, wait
from tests.card.test_pin_attacks import rig as rig  # the PC/SC stack fixture (pcscd that can be restarted)
from tests.e2e.test_processes import KOFU
from tests.jpki.conftest import forge
from tests.reliability.conftest import size
from tests.reliability.deployment import PEOPLE, Deployment, T
from tests.reliability.test_operations import personal_strings

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.reliability]

TALLY: Counter[str] = Counter()  # what was tried → how many times (printed with -s, reported in the docs)
ANSWERS: dict[str, set[str]] = {}  # what was tried → the answers seen ("403 foreign-session", "tls: ConnectError")
URLS: list[str] = []  # every URL this module's clients called (scanned for personal data at the end)


# ---------------------------------------------------------------------------------------------- helpers


def counts(d: Deployment) -> dict[str, int]:
    """What an attack must not change: orders, payments, authenticated sessions, live issuances."""
    with d.observer.engine.connect() as conn:
        return {
            "orders": conn.execute(select(func.count()).select_from(orders)).scalar_one(),
            "payments": conn.execute(select(func.count()).select_from(payments)).scalar_one(),
            "authenticated": conn.execute(
                select(func.count()).select_from(sessions).where(sessions.c.status == "authenticated")
            ).scalar_one(),
            "issuances": conn.execute(select(func.count()).select_from(issuances)).scalar_one(),
        }


def client(d: Deployment, kiosk_id: str, secret: str) -> CenterClient:
    c = CenterClient(d.center_url, kiosk_id, secret, verify=d.kiosk_tls(), timeout=60)
    c.http.event_hooks["request"].append(lambda r: URLS.append(str(r.url)))
    return c


def refused(what: str, fn: Any, *args: Any, **kwargs: Any) -> CenterRefused:
    with pytest.raises(CenterRefused) as info:
        fn(*args, **kwargs)
    TALLY[what] += 1
    ANSWERS.setdefault(what, set()).add(f"{info.value.status} {info.value.code}")
    return info.value


def login(d: Deployment, center: CenterClient, resident_id: str) -> str:
    card = d.card(resident_id)
    opened = center.open_session()
    card.verify_auth_pin("1234")
    sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, center.kiosk_id, opened.nonce))
    center.authenticate_jpki(opened.session_id, card.read_auth_certificate(), sig)
    return opened.session_id


@pytest.fixture(scope="module")
def kiosks(deployment: Deployment) -> dict[str, str]:
    """K1 (the deployment's), K2 (another kiosk of the store), K3 (deactivated): id → secret."""
    service = center_service(deployment.observer)
    secrets = {
        "K1": deployment.secret,
        "K2": service.register_kiosk("S1", "K2"),
        "K3": service.register_kiosk("S1", "K3"),
    }
    service.set_kiosk_active("K3", False)
    return secrets


# ---------------------------------------------------------------------------------------------- PIN guessing


def kiosk_run(d: Deployment, card: Path | None, pins: list[str], out: Path, method: str) -> tuple[int, dict[str, Any]]:
    """`kofu kiosk run` as its own process: the card file is read afresh (a card put on the reader);
    `card=None`: the card in the PC/SC reader "Virtual PCD"."""
    reader = ["--card", str(card)] if card is not None else ["--pcsc", "Virtual PCD"]
    args = [KOFU, "kiosk", "run", "--center", d.center_url, "--ca", str(d.ca), "--kiosk-id", "K1", *reader]
    args += ["--secret", d.secret, "--type", "juminhyo", "--pay", "500", "--out", str(out)]
    args += ["--json", "--method", method]
    for pin in pins:
        args += ["--pin", pin]
    done = subprocess.run(args, env=d.env, capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout + done.stderr
    return done.returncode, json.loads(lines[-1])


def allow_card_app(d: Deployment) -> None:
    path = d.home / "tenants" / f"{T}.toml"
    text = path.read_text(encoding="utf-8")
    if "card_method" not in text:
        path.write_text(text.replace("copies_limit = 5", 'copies_limit = 5\ncard_method = "both"'), encoding="utf-8")
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 7_000_000))  # the issuer reloads on a new mtime


@pytest.mark.parametrize(("method", "resident", "pin_name"), [("jpki", "R2", "auth"), ("card-app", "R1", "card_ap")])
def test_three_wrong_pins_lock_the_card_across_kiosk_processes_and_only_the_window_unlocks_it(
    deployment: Deployment, tmp_path: Path, method: str, resident: str, pin_name: str
) -> None:
    d = deployment
    if method == "card-app":
        allow_card_app(d)
    card = tmp_path / "card.card"  # a copy of the resident's card: same keys and certificate, own counters
    shutil.copyfile(d.cards[resident].path, card)
    master = default_master_key(d.home / "keys")

    def tries() -> int:
        return CardFile(card, master).load().pin_tries_left(pin_name)  # type: ignore[arg-type]

    before = counts(d)
    answers = []
    # one wrong PIN per kiosk process: the card is taken off and put on again, the kiosk restarted
    for expected_left in (2, 1, 0):
        code, out = kiosk_run(d, card, ["0000"], tmp_path, method)
        TALLY[f"wrong PIN, {method} kiosk process"] += 1
        answers.append((code, out["refusal"], out["tries_left"]))
        assert code == 4 and out["tries_left"] == expected_left, out
        assert tries() == expected_left
    assert [a[1] for a in answers] == ["card-wrong-pin", "card-wrong-pin", "card-pin-blocked"]
    # locked: the right PIN, in new processes, twice in one, is refused and spends nothing
    for pins in [["1234"]] * size(1, 8) + [["1234", "1234"]]:
        code, out = kiosk_run(d, card, pins, tmp_path, method)
        TALLY[f"right PIN on a locked card, {method} kiosk process"] += 1
        assert (code, out["refusal"], out["tries_left"]) == (4, "card-pin-blocked", 0), out
        assert out["order_id"] is None and out["paid"] == 0 and not out["files"]
        assert tries() == 0
    after = counts(d)
    assert {k: after[k] - before[k] for k in ("orders", "payments", "issuances")} == {
        "orders": 0,
        "payments": 0,
        "issuances": 0,
    }
    if method == "jpki":  # the PIN comes before the card's signature: no session got authenticated
        assert after["authenticated"] == before["authenticated"]
    assert not list(tmp_path.glob("*.pdf"))

    # the window's reset (初期化) is the one way back: a full counter
    reset = subprocess.run(
        [KOFU, "card", "reset-pin", str(card), "--new-pin", "1234", "--which", pin_name],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert tries() == 3
    code, out = kiosk_run(d, card, ["1234"], tmp_path, method)
    if method == "jpki":  # a reset authentication PIN serves kiosks from the next day
        assert (code, out["refusal"]) == (2, "card-not-yet-usable"), out
        assert out["paid"] == 0 and counts(d)["payments"] == after["payments"]
    else:
        assert code == 0 and out["ok"], out
    assert tries() == 3


def test_pin_guessing_through_a_kiosk_on_a_pcsc_reader_across_card_and_pcscd_restarts(
    deployment: Deployment, rig: tuple[Stack, Pcscd], tmp_path: Path
) -> None:
    """The kiosk process reads the card over PC/SC (pcscd + vpcd + `kofu card insert`)."""
    d = deployment
    stack, pcscd = rig
    key_file = tmp_path / "master.key"
    key_file.write_text(default_master_key(d.home / "keys").hex())
    key_file.chmod(0o600)
    reader = Stack(stack.port, stack.workdir, stack.module, key_file)
    card = tmp_path / "card.card"
    shutil.copyfile(d.cards["R1"].path, card)
    master = default_master_key(d.home / "keys")

    def tries() -> int:
        return CardFile(card, master).load().pin_tries_left("auth")

    before = counts(d)
    process = reader.insert(card)
    try:
        seen = []
        for attempt in range(3):
            code, out = kiosk_run(d, None, ["0000"], tmp_path, "jpki")
            TALLY["wrong PIN, jpki kiosk process on a PC/SC reader"] += 1
            seen.append((code, out["refusal"], out["tries_left"]))
            if attempt == 0:  # the card taken off and put on again
                stop(process)
                process = reader.insert(card)
            elif attempt == 1:  # pcscd restarted under the card
                pcscd.stop()
                pcscd.start()
                wait(lambda: reader.run("pkcs15-tool", "-D").returncode == 0, 60, "OpenSC to see the card", 1.0)
        assert seen == [(4, "card-wrong-pin", 2), (4, "card-wrong-pin", 1), (4, "card-pin-blocked", 0)], seen
        for _ in range(size(1, 5)):
            code, out = kiosk_run(d, None, ["1234"], tmp_path, "jpki")
            TALLY["right PIN on a locked card, jpki kiosk process on a PC/SC reader"] += 1
            assert (code, out["refusal"], out["tries_left"], out["paid"]) == (4, "card-pin-blocked", 0, 0), out
    finally:
        stop(process)
    assert tries() == 0
    after = counts(d)
    assert after == before, "nothing ordered, paid, authenticated or issued"


def test_a_card_app_session_needs_the_card_not_just_its_user_id(deployment: Deployment) -> None:
    """A kiosk credential plus a user id (readable from a card without its PIN) must not be enough."""
    d = deployment
    allow_card_app(d)
    with d.kiosk() as k1:
        opened = k1.open_session()
        try:
            k1.authenticate_card_app(opened.session_id, d.cards["R1"].user_id)  # no card present, no PIN
            quoted = k1.order(opened.session_id, "juminhyo")
        except CenterRefused:
            return  # refused: what should happen
        k1.cancel(quoted.order_id)
        TALLY["card-app: a user id without the card (accepted: known gap)"] += 1
        pytest.fail("the center took an order on a card-app user id without any proof of the card or its PIN")


# ---------------------------------------------------------------------------------------------- kiosks


def test_kiosk_impersonation_is_refused_and_nothing_is_charged(deployment: Deployment, kiosks: dict[str, str]) -> None:
    d = deployment
    rounds = size(1, 20)
    for _ in range(rounds):
        for kiosk_id, secret, what in (
            ("K2", kiosks["K1"], "another kiosk's secret"),
            ("K1", kiosks["K2"], "another kiosk's secret"),
            ("K3", kiosks["K3"], "a deactivated kiosk"),
            ("K1", kiosks["K1"][:-1] + ("A" if kiosks["K1"][-1] != "A" else "B"), "a wrong secret"),
            ("K9", kiosks["K1"], "an unknown kiosk id"),
        ):
            with client(d, kiosk_id, secret) as impostor:
                e = refused(f"kiosk credential: {what}", impostor.open_session)
                assert (e.status, e.code) == (401, "kiosk-unauthorized"), (kiosk_id, what)
                e = refused(f"kiosk credential: {what}", impostor.menu, "00000000")
                assert e.status == 401
    with httpx.Client(verify=d.kiosk_tls(), timeout=10) as raw:  # no credentials at all
        assert raw.post(f"{d.center_url}/v1/sessions", json={}, headers={"Idempotency-Key": "x"}).status_code == 401
        TALLY["kiosk credential: none"] += 1

    before = counts(d)
    with client(d, "K1", kiosks["K1"]) as k1, client(d, "K2", kiosks["K2"]) as k2:
        # a session opened at K1 and its challenge signed for K2: K2 cannot use it
        card = d.card("R1")
        opened = k1.open_session()
        card.verify_auth_pin("1234")
        sig = card.sign_auth_sha256(challenge_bytes(opened.session_id, "K2", opened.nonce))
        e = refused("K1's session authenticated from K2", k2.authenticate_jpki, opened.session_id,
                    card.read_auth_certificate(), sig)  # fmt: skip
        assert (e.status, e.code) == (403, "foreign-session")
        # K1's authenticated session and its order, used from K2
        sid = login(d, k1, "R1")
        quoted = k1.order(sid, "juminhyo")
        k1.pay(quoted.order_id, {"100": 1})
        attempts = [
            ("menu", k2.menu, (sid,)),
            ("order", k2.order, (sid, "juminhyo")),
            ("pay", k2.pay, (quoted.order_id, {"500": 1})),
            ("documents", k2.documents, (quoted.order_id,)),
            ("print-result", k2.print_result, (quoted.order_id, "job", True)),
            ("cancel", k2.cancel, (quoted.order_id,)),
        ]
        for name, fn, args in attempts:
            e = refused(f"K1's session/order used from K2 ({name})", fn, *args)
            assert e.status in (403, 404), (name, e.status, e.code)
        unknown = "0" * 32
        for name, fn, args in (("pay", k2.pay, (unknown, {"500": 1})), ("documents", k2.documents, (unknown,))):
            e = refused(f"an unknown order id ({name})", fn, *args)
            assert e.status == 404, (name, e.status)
        assert center_service(d.observer).money_balance(quoted.order_id) == {"in": 100, "refund": 0, "change": 0}
        outcome = k1.cancel(quoted.order_id)  # the real kiosk still owns its order
        assert (outcome.status, outcome.refund) == ("refunded", 100)
    after = counts(d)
    assert after["issuances"] == before["issuances"]
    assert (after["orders"], after["payments"]) == (before["orders"] + 1, before["payments"] + 2)  # K1's coin + refund


# ---------------------------------------------------------------------------------------------- the issuer


def _leaf_files(directory: Path, ca: Authority, trust: Path, common_name: str, **kw: Any) -> MtlsFiles:
    key, cert = issue_leaf(ca, common_name, Role.CLIENT, **kw)
    files = MtlsFiles(directory)
    files.directory.mkdir(parents=True)
    write_private(files.center_key, key_pem(key))
    files.center_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca_cert.write_bytes(trust.read_bytes())
    return files


def test_calls_to_the_issuer_that_bypass_the_center_are_refused(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    real = MtlsFiles(d.home / "keys" / "mtls")
    assert real.complete()
    ca_key = serialization.load_pem_private_key(real.ca_key.read_bytes(), None)
    ours = Authority(ca_key, x509.load_pem_x509_certificate(real.ca_cert.read_bytes()))  # type: ignore[arg-type]
    now = datetime.now(UTC)
    body = {
        "request": HttpIssuerGateway._request(IssueRequest(T, "R1", CertificateType.JUMINHYO)),
        "at": now.isoformat(),
        "order_id": "bypass-1",
        "cert_serial": d.cards["R1"].auth_serial,
        "card_app_user_id": None,
    }

    def ctx(files: MtlsFiles | None) -> ssl.SSLContext:
        if files is None:
            return client_context(ca_cert=real.ca_cert, client_cert=None, client_key=None)
        return client_context(ca_cert=files.ca_cert, client_cert=files.center_cert, client_key=files.center_key)

    def at_tls(files: MtlsFiles | None) -> str:
        with httpx.Client(verify=ctx(files), timeout=10) as http:
            try:
                answer = http.post(f"{d.issuer_url}/v1/issue", json=body)
            except httpx.TransportError as exc:
                return f"tls: {type(exc).__name__}"
            return f"http {answer.status_code}"

    foreign = create_ca("another CA")
    cases = {
        "no client certificate": None,
        "a certificate from another CA (CN kofu-center)": _leaf_files(tmp_path / "f", foreign, real.ca_cert, CENTER_CN),
        "the right CA, another CN (kofu-kiosk)": _leaf_files(tmp_path / "cn", ours, real.ca_cert, "kofu-kiosk"),
        "the right CA and CN, expired": _leaf_files(
            tmp_path / "old", ours, real.ca_cert, CENTER_CN, now=now - timedelta(days=40), days=30
        ),
        "the right CA and CN, not yet valid": _leaf_files(
            tmp_path / "new", ours, real.ca_cert, CENTER_CN, now=now + timedelta(days=2), days=30
        ),
        "the issuer's own server certificate": MtlsFiles(tmp_path / "srv"),
    }
    srv = cases["the issuer's own server certificate"]
    assert srv is not None
    srv.directory.mkdir()
    shutil.copyfile(real.issuer_cert, srv.center_cert)
    shutil.copyfile(real.issuer_key, srv.center_key)
    shutil.copyfile(real.ca_cert, srv.ca_cert)

    before = counts(d)
    seen = {}
    for what, files in cases.items():
        seen[what] = at_tls(files)
        TALLY[f"issuer bypass: {what}"] += 1
        ANSWERS[f"issuer bypass: {what}"] = {seen[what]}
    with httpx.Client(timeout=10) as plain:  # plain HTTP to the TLS port
        try:
            seen["plain HTTP"] = (
                f"http {plain.post(d.issuer_url.replace('https', 'http') + '/v1/issue', json=body).status_code}"
            )
        except httpx.TransportError as exc:
            seen["plain HTTP"] = f"tls: {type(exc).__name__}"
        TALLY["issuer bypass: plain HTTP"] += 1
        ANSWERS["issuer bypass: plain HTTP"] = {seen["plain HTTP"]}
    print("issuer bypass:", json.dumps(seen, ensure_ascii=False))
    assert seen.pop("the right CA, another CN (kofu-kiosk)") == "http 403"  # TLS passes; the CN check refuses
    assert all(v.startswith("tls") or v == "http 400" for v in seen.values()), seen
    assert counts(d)["issuances"] == before["issuances"], "nothing was issued"

    # the control: the very same call with the center's certificate issues (and is voided again)
    assert at_tls(real) == "http 200"
    assert counts(d)["issuances"] == before["issuances"] + 1
    with HttpIssuerGateway.from_files(d.issuer_url, real) as center:
        assert len(center.void_order("bypass-1", reason="cancelled")) == 1


# ---------------------------------------------------------------------------------------------- certificates


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_attacks_over_https_are_refused(deployment: Deployment, kiosks: dict[str, str]) -> None:
    d = deployment
    jpki_keys = d.home / "keys" / "jpki"
    ca_key = serialization.load_pem_private_key((jpki_keys / "auth" / "key.pem").read_bytes(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the attacker holds this key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth_ca = ca_name(CertKind.AUTH)
    now = datetime.now(UTC)
    me = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "me")])

    def by_ca(**kw: Any) -> bytes:  # signed by the real JPKI authentication CA's key
        kw.setdefault("not_before", now - timedelta(days=1))
        return _der(forge(issuer=auth_ca, signing_key=ca_key, public_key=mine.public_key(), **kw))

    another_ca = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Another CA")])
    ca_cert = x509.load_pem_x509_certificate((jpki_keys / "auth" / "cert.pem").read_bytes())
    forged: dict[str, tuple[bytes, int, str]] = {
        "self-signed": (
            _der(forge(issuer=me, subject=me, signing_key=mine, public_key=mine.public_key())),
            422,
            "untrusted-issuer",
        ),
        "another CA": (
            _der(forge(issuer=another_ca, signing_key=other, public_key=mine.public_key())),
            422,
            "untrusted-issuer",
        ),
        "the JPKI CA's name, another key": (
            _der(forge(issuer=auth_ca, signing_key=other, public_key=mine.public_key())),
            422,
            "bad-signature",
        ),
        "expired (JPKI CA)": (by_ca(not_before=now - timedelta(days=400), days=30), 422, "expired"),
        "not yet valid (JPKI CA)": (by_ca(not_before=now + timedelta(days=3)), 422, "not-yet-valid"),
        "wrong key usage (JPKI CA, keyEncipherment)": (
            by_ca(digital_signature=False, key_encipherment=True),
            422,
            "wrong-key-usage",
        ),
        "no JPKI auth policy (JPKI CA)": (by_ca(policy=False), 422, "wrong-policy"),
        "the JPKI CA certificate itself": (_der(ca_cert), 422, "wrong-key-usage"),
        "malformed DER (truncated)": (d.card("R1").read_auth_certificate()[:300], 422, "malformed"),
        "malformed DER (not a certificate)": (b"\x30\x03\x02\x01\x00", 422, "malformed"),
    }
    before = counts(d)
    with client(d, "K1", kiosks["K1"]) as k1:
        for _ in range(size(1, 20)):
            for what, (der, status, code) in forged.items():
                opened = k1.open_session()
                sig = mine.sign(
                    challenge_bytes(opened.session_id, "K1", opened.nonce), padding.PKCS1v15(), hashes.SHA256()
                )
                e = refused(f"certificate: {what}", k1.authenticate_jpki, opened.session_id, der, sig)
                assert (e.status, e.code) == (status, code), what
        # the sign certificate of a real card offered for authentication
        r1 = d.card("R1")
        opened = k1.open_session()
        r1.verify_auth_pin("1234")
        sig = r1.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
        sign_cert = CardFile(d.cards["R1"].path, default_master_key(d.home / "keys")).load().certificate("sign")
        assert sign_cert is not None
        e = refused("certificate: the card's signing certificate", k1.authenticate_jpki, opened.session_id,
                    sign_cert, sig)  # fmt: skip
        assert e.status == 422 and e.code in ("wrong-key-usage", "wrong-policy"), e.code
        # a valid certificate with another key's signature (R1's certificate, R2's card signs)
        r2 = d.card("R2")
        opened = k1.open_session()
        r2.verify_auth_pin("1234")
        sig = r2.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
        e = refused("certificate: valid, another key's signature", k1.authenticate_jpki, opened.session_id,
                    r1.read_auth_certificate(), sig)  # fmt: skip
        assert (e.status, e.code) == (401, "signature-invalid")
        # base64 that is not base64
        raw = k1.http.post(
            f"/v1/sessions/{k1.open_session().session_id}/authenticate",
            json={"method": "jpki", "certificate": "***", "signature": "***"},
            headers={"Idempotency-Key": "b64"},
        )
        TALLY["certificate: not base64"] += 1
        assert raw.status_code == 400, raw.text
        authenticated = counts(d)["authenticated"]
        assert authenticated == before["authenticated"], "no attack authenticated a session"
        # a replayed challenge: the same certificate and signature again, and on a new session
        opened = k1.open_session()
        r1.verify_auth_pin("1234")
        sig = r1.sign_auth_sha256(challenge_bytes(opened.session_id, "K1", opened.nonce))
        cert = r1.read_auth_certificate()
        k1.authenticate_jpki(opened.session_id, cert, sig)
        e = refused("certificate: replayed on the same session", k1.authenticate_jpki, opened.session_id, cert, sig)
        assert (e.status, e.code) == (409, "nonce-used")
        fresh = k1.open_session()
        e = refused("certificate: replayed on a new session", k1.authenticate_jpki, fresh.session_id, cert, sig)
        assert (e.status, e.code) == (401, "signature-invalid")
        # a signature by the right card over another kiosk's challenge
        opened = k1.open_session()
        sig = r1.sign_auth_sha256(challenge_bytes(opened.session_id, "K2", opened.nonce))
        e = refused("certificate: signed for another kiosk", k1.authenticate_jpki, opened.session_id, cert, sig)
        assert (e.status, e.code) == (401, "signature-invalid")
    after = counts(d)
    assert after["authenticated"] == before["authenticated"] + 1  # only the one honest login
    assert (after["orders"], after["payments"], after["issuances"]) == (
        before["orders"],
        before["payments"],
        before["issuances"],
    )


# ---------------------------------------------------------------------------------------------- personal data


def test_no_personal_data_in_logs_audit_or_urls_after_the_attacks(deployment: Deployment) -> None:
    d = deployment
    with d.observer.engine.connect() as conn:
        audit = [
            json.dumps([kind, data], ensure_ascii=False)
            for table in (center_audit, issuer_audit)
            for kind, data in conn.execute(select(table.c.kind, table.c.data)).all()
        ]
    haystacks = {
        "center log": d.log_text("center"),
        "issuer log": d.log_text("issuer"),
        "jpki log": d.log_text("jpki"),
        "audit": "\n".join(audit),
        "urls": "\n".join(URLS),
    }
    assert all(hay for where, hay in haystacks.items() if where != "urls")  # URLs: those of the tests that ran
    needles = personal_strings()
    assert len(needles) >= 10 and {p.resident_id for p in PEOPLE} >= {"R1", "R2"}
    leaks = [(where, s) for s in needles for where, hay in haystacks.items() if s in hay]
    assert not leaks, leaks
    secrets_in_logs = [s for s in (d.secret,) if s in haystacks["center log"]]
    assert not secrets_in_logs, "a kiosk secret reached the log"
    TALLY["personal-data scan: strings × places"] = len(needles) * len(haystacks)
    print("\nsecurity tally:")
    for what, n in sorted(TALLY.items()):
        print(f"  {n:4d}  {what}: {', '.join(sorted(ANSWERS.get(what, ())))}")
    print(f"  urls scanned {len(URLS)}, audit entries {len(audit)}, log bytes "
          f"{sum(len(haystacks[k]) for k in ('center log', 'issuer log', 'jpki log'))}")  # fmt: skip
