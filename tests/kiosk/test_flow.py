"""The headless kiosk end to end: card → PIN → choices → coins → binding check → print → receipt."""

from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kofu.card.client import CardError, JpkiClient
from kofu.card.readers import InProcessReader
from kofu.center.protocol import Delivery, PrintJob
from kofu.kiosk.devices import PrinterFault
from kofu.kiosk.flow import Step
from kofu.verify.service import Outcome

from .conftest import Shop, T

FEE = 250


class Spy:
    """A center client in between: remembers the delivered PDFs (the test plays the auditor) and can
    change a job before the kiosk sees it."""

    def __init__(self, inner: Any, tamper: Any = None) -> None:
        self.inner = inner
        self.tamper = tamper
        self.pdfs: list[bytes] = []
        self.print_results: list[tuple[bool, str | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def documents(self, order_id: str) -> Delivery:
        delivery = self.inner.documents(order_id)
        self.pdfs += [job.pdf_bytes() for job in delivery.jobs]
        if self.tamper is not None:
            delivery = Delivery(delivery.order_id, delivery.status, [self.tamper(j) for j in delivery.jobs])
        return delivery

    def print_result(self, order_id: str, job_id: str, ok: bool, error: str | None = None) -> Any:
        self.print_results.append((ok, error))
        return self.inner.print_result(order_id, job_id, ok, error)


def _not_verified(reader: InProcessReader) -> bool:
    """The card forgot the PIN: signing needs a new VERIFY."""
    reader.connect()
    client = JpkiClient(reader)
    try:
        client.sign_auth(bytes(51))
    except CardError as exc:
        return exc.sw == 0x6982
    return False


@pytest.mark.parametrize(
    ("ctype", "choices"),
    [
        ("juminhyo", {"kind": "household", "items": ["household_head"]}),
        ("kisai", {"items": ["birth_date", "address"]}),
        ("inkan", {}),
        ("shotoku", {}),
    ],
)
def test_every_certificate_type_prints_end_to_end(shop: Shop, ctype: str, choices: dict[str, Any]) -> None:
    spy = Spy(shop.center())
    kiosk = shop.kiosk(spy)
    script = shop.script(type=ctype, coins=[1000], copies=2, **choices)
    result = kiosk.run(script)
    assert result.ok and result.exit_code == 0, result
    assert result.steps == [f"{s.value} {s.label}" for s in Step]  # all 13 steps (and 0) in order
    assert result.total == 2 * FEE and result.paid == 1000 and result.change == 1000 - 2 * FEE
    assert result.tenant == T and result.municipality == "加東市" and result.number.startswith(f"{T}-")
    assert len(result.files) == 2
    for name in result.files:
        pdf = Path(name).read_bytes()
        assert hashlib.sha256(pdf).digest() == hashlib.sha256(spy.pdfs[0]).digest()
        assert shop.world.verifier.verify_pdf(pdf).outcome is Outcome.VALID
    d = kiosk.devices
    assert d.coins.paid_out == [("change", 500, {500: 1})] and d.coins.cash_box[1000] == 1
    assert d.speaker.count("take-card") == 1 and d.speaker.count("take-certificate") == 2
    assert Path(result.receipt or "").exists() and result.number in Path(result.receipt or "").read_text()
    assert not d.slot.present and _not_verified(script.card)  # type: ignore[arg-type]


def test_wrong_pin_reports_the_tries_left_and_orders_nothing(shop: Shop) -> None:
    kiosk = shop.kiosk()
    result = kiosk.run(shop.script(pins=["9999"]))
    assert not result.ok and result.exit_code == 4 and result.status == "card-error"
    assert result.refusal == "card-wrong-pin" and result.tries_left == 2 and "残り2回" in (result.message_ja or "")
    assert result.order_id is None and result.files == [] and kiosk.devices.coins.paid_out == []

    again = kiosk.run(shop.script(pins=["0000", "1234"], coins=[100, 100, 50]))  # a second try on the keypad
    assert again.ok and again.change == 0, again


def test_locked_card_stops_without_spending_a_try(shop: Shop) -> None:
    kiosk = shop.kiosk()
    result = kiosk.run(shop.script(pins=["1111", "2222", "3333"]))
    assert result.exit_code == 4 and result.refusal == "card-pin-blocked" and result.tries_left == 0
    locked = kiosk.run(shop.script(pins=["1234"]))
    assert locked.exit_code == 4 and locked.refusal == "card-pin-blocked"
    assert "ロック" in (locked.message_ja or "") and locked.order_id is None
    assert locked.steps[-1] == "3 pin"


def test_too_little_money_is_refused_before_printing_and_returned(shop: Shop) -> None:
    kiosk = shop.kiosk()
    before = dict(kiosk.devices.coins.cash_box)
    result = kiosk.run(shop.script(coins=[100, 100, 10, 10]))
    assert result.exit_code == 2 and result.refusal == "insufficient-payment" and result.files == []
    assert result.paid == 220 and result.total == FEE and result.refund == 220
    assert kiosk.devices.coins.paid_out == [("returned", 220, {100: 2, 10: 2})]
    assert dict(kiosk.devices.coins.cash_box) == before and not kiosk.devices.printer.printed
    assert "足りません" in (result.message_ja or "")
    assert "11 print" not in result.steps


@pytest.mark.parametrize("fault", [PrinterFault.JAM, PrinterFault.PAPER_OUT])
def test_printer_fault_refunds_and_voids(shop: Shop, fault: PrinterFault) -> None:
    spy = Spy(shop.center())
    kiosk = shop.kiosk(spy)
    kiosk.devices.printer.fault = fault
    result = kiosk.run(shop.script(coins=[500]))
    assert result.exit_code == 3 and result.status == "refunded" and result.refusal == f"printer-{fault.value}"
    assert result.refund == 500 and kiosk.devices.coins.paid_out == [("refund", 500, {500: 1})]
    assert result.files == [] and not list((shop.out / "tray").glob("*"))
    assert spy.print_results == [(False, f"printer-{fault.value}")]
    verdict = shop.world.verifier.verify_pdf(spy.pdfs[0])
    assert verdict.outcome is Outcome.VOIDED, verdict
    assert Path(result.receipt or "").name.startswith("refund-")


def _other_serial(job: PrintJob) -> PrintJob:
    return dataclasses.replace(job, cert_serial="1" + (job.cert_serial or ""))


def _other_pdf(job: PrintJob) -> PrintJob:
    pdf = bytearray(job.pdf_bytes())
    pdf[-10] ^= 1
    return dataclasses.replace(job, pdf=base64.b64encode(bytes(pdf)).decode())


def _other_order(job: PrintJob) -> PrintJob:
    return dataclasses.replace(job, order_id="someone-elses-order")


@pytest.mark.parametrize("tamper", [_other_serial, _other_pdf, _other_order])
def test_binding_mismatch_is_not_printed_and_refunded(shop: Shop, tamper: Any) -> None:
    spy = Spy(shop.center(), tamper)
    kiosk = shop.kiosk(spy)
    result = kiosk.run(shop.script(coins=[100, 100, 100]))
    assert result.exit_code == 3 and result.refusal == "binding-mismatch", result
    assert result.refund == 300 and kiosk.devices.printer.printed == [] and result.files == []
    assert spy.print_results == [(False, "binding-mismatch")]
    assert shop.world.verifier.verify_pdf(spy.pdfs[0]).outcome is Outcome.VOIDED


def _reachable(root: object) -> list[object]:
    seen: set[int] = set()
    todo = [root]
    found: list[object] = []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, (str, bytes, bytearray, int, float)):
            continue
        todo += gc.get_referents(obj)
    return found


def test_after_printing_the_kiosk_holds_no_document(shop: Shop, tmp_path: Path) -> None:
    spy = Spy(shop.center())
    kiosk = shop.kiosk(spy)
    result = kiosk.run(shop.script())
    assert result.ok
    printed = Path(result.files[0]).read_bytes()
    tray = sorted(p.name for p in (shop.out / "tray").iterdir())
    assert tray == [Path(result.files[0]).name]  # no spool or temp file left beside it
    b64_head = base64.b64encode(printed[:30]).decode()[:20]
    for obj in _reachable(kiosk.devices) + _reachable(result):
        if isinstance(obj, (bytes, bytearray)):
            assert b"%PDF" not in obj
        if isinstance(obj, str):
            assert b64_head not in obj and "%PDF" not in obj
    assert not any(isinstance(o, (Delivery, PrintJob)) for o in _reachable(kiosk.devices) + _reachable(result))
    assert set(vars(kiosk)) == {"center", "devices"}


def test_card_app_method_asks_the_pin_after_the_type(shop: Shop) -> None:
    toml = shop.world.issuer.tenants.directory / f"{T}.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("copies_limit = 5", 'copies_limit = 5\ncard_method = "both"')
    )
    result = shop.kiosk().run(shop.script(method="card-app"))
    assert result.ok, result
    labels = [s.split(" ", 1)[1] for s in result.steps]
    assert labels[:7] == ["terms", "card", "service", "type", "pin", "remove-card", "kind"]


class Recorder:
    """A center client in between that records which calls the kiosk made, in order."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kw)

        return call


def _allow_card_app(shop: Shop) -> None:
    toml = shop.world.issuer.tenants.directory / f"{T}.toml"
    text = toml.read_text(encoding="utf-8")
    if "card_method" not in text:
        toml.write_text(text.replace("copies_limit = 5", 'copies_limit = 5\ncard_method = "both"'))


def test_card_app_kiosk_proves_the_card_after_the_pin_and_before_the_order(shop: Shop) -> None:
    _allow_card_app(shop)
    center = Recorder(shop.center())
    result = shop.kiosk(center).run(shop.script(method="card-app"))
    assert result.ok, result
    assert center.calls[:4] == ["open_session", "authenticate_card_app", "prove_card_app", "order"]


def test_card_app_wrong_pin_sends_no_proof_and_orders_nothing(shop: Shop) -> None:
    _allow_card_app(shop)
    center = Recorder(shop.center())
    result = shop.kiosk(center).run(shop.script(method="card-app", pins=["0000"]))
    assert (result.ok, result.exit_code, result.tries_left, result.paid) == (False, 4, 2, 0)
    assert "prove_card_app" not in center.calls and "order" not in center.calls


def test_card_app_card_the_window_registered_without_a_key_is_refused_in_both_languages(shop: Shop) -> None:
    from sqlalchemy import update

    from kofu.registry.store import cards

    _allow_card_app(shop)
    script = shop.script(method="card-app")
    with shop.world.engine.begin() as conn:  # a card link made before the card AP had its own key
        conn.execute(update(cards).values(card_app_public_key=None))
    center = Recorder(shop.center())
    result = shop.kiosk(center).run(script)
    assert (result.ok, result.status, result.exit_code, result.paid) == (False, "refused", 2, 0)
    assert result.refusal == "card-app-key-missing"
    assert result.message_ja is not None and "窓口" in result.message_ja
    assert result.message_en is not None and "municipal office" in result.message_en
    assert "order" not in center.calls


def test_an_order_closed_by_the_center_while_printing_gives_the_money_back(shop: Shop) -> None:
    """A print slower than the order's deadline: the center's janitor closes (refunds, voids) the order while
    the page comes out, so print-result finds it closed. Found at full size by the reliability suite: the
    kiosk kept the coins while the center's books said refunded."""
    spy = Spy(shop.center())
    kiosk = shop.kiosk(spy)
    printer = kiosk.devices.printer
    slow_print = printer.print_document

    def print_past_the_deadline(name: str, pdf: bytes, copies: int) -> Any:
        paths = slow_print(name, pdf, copies)
        shop.service.expire(shop.world.clock.now() + timedelta(hours=1))
        return paths

    printer.print_document = print_past_the_deadline  # type: ignore[method-assign]
    result = kiosk.run(shop.script(coins=[500]))
    assert result.exit_code == 3 and result.status == "refunded" and result.refusal == "closed-while-printing"
    assert result.refund == 500 and kiosk.devices.coins.paid_out == [("refund", 500, {500: 1})]
    assert "無効" in (result.message_ja or "") and "void" in (result.message_en or "")
    assert shop.service.money_balance(result.order_id or "") == {"in": 500, "refund": 500, "change": 0}
    verdict = shop.world.verifier.verify_pdf(spy.pdfs[0])
    assert verdict.outcome is Outcome.VOIDED, verdict
