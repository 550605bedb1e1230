"""The kiosk's 13 steps (DOMAIN.md §2) as a state machine, driven by a `Script` of the user's choices.

    0 terms → 1 card → 2 service → 3 PIN → 4 remove card → 5 type → 6 kind → 7 items → 8 copies
    → 9 confirm → 10 pay → 11 print → 12 take-your-certificate reminder → 13 receipt

With the card-app method (カードAP方式, a tenant setting) the PIN comes after the type: … 2 → 5 → 3 → 4 → 6 ….
Its user id only names the card (the center's session is provisional: menu only); right after the PIN the
card AP signs the session's challenge and the center checks that against the key registered at the window.

The kiosk talks to the center only through a `CenterPort` (implemented by `kofu.center.client.CenterClient`
over HTTPS, and by `kofu.center.local.LocalCenter` when the center runs in the same process).
It never keeps a document: the PDF bytes of a job live in local variables of `Run.print_documents` only, are checked
against the binding (order, card, hash), handed to the printer and dropped; `Kiosk` holds no reference.

`Kiosk.run(script)` walks one customer through every step at once (the headless kiosk). `Kiosk.start(card)`
gives the same steps one at a time (`Run`): the touch-screen UI (`kofu.kiosk.ui`) calls its step methods as
the customer chooses, each with that choice as an argument; a step that ends the visit raises `Stop`.

Every ending is a `KioskResult` with an exit code: 0 printed, 2 refused (by the center, the menu, or too
little money — nothing charged), 3 print failure (refunded and voided), 4 card or PIN problem.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from cryptography import x509

from kofu.card.client import CardError, JpkiClient, PinBlocked, WrongPin
from kofu.card.readers import Reader
from kofu.center import protocol as wire
from kofu.center.protocol import challenge_bytes
from kofu.common.errors import KofuError
from kofu.common.faults import fault_point
from kofu.kiosk.binding import binding_problems, normalise_serial
from kofu.kiosk.devices import (
    Announcement,
    CardSlot,
    CoinVendor,
    DeviceError,
    Printer,
    PrinterError,
    ReceiptPrinter,
    Speaker,
)

JPKI_TOKEN = b"JPKIAPICCTOKEN2"


class Step(IntEnum):
    TERMS = 0
    CARD = 1
    SERVICE = 2
    PIN = 3
    REMOVE_CARD = 4
    TYPE = 5
    KIND = 6
    ITEMS = 7
    COPIES = 8
    CONFIRM = 9
    PAY = 10
    PRINT = 11
    REMINDER = 12
    RECEIPT = 13

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


SCREENS: dict[Step, tuple[str, str]] = {
    Step.TERMS: ("行政サービス — 利用規約に同意する", "Government services — accept the terms"),
    Step.CARD: ("マイナンバーカードを置いてください", "Place your My Number card on the reader"),
    Step.SERVICE: ("証明書交付サービス", "Certificate issuance service"),
    Step.PIN: ("利用者証明用電子証明書の暗証番号（数字4桁）", "Enter the 4-digit PIN"),
    Step.REMOVE_CARD: ("カードをお取りください", "Please remove your card"),
    Step.TYPE: ("証明書の種類を選択", "Choose the certificate"),
    Step.KIND: ("交付種別を選択", "Choose whose certificate"),
    Step.ITEMS: ("記載事項を選択", "Choose the printed items"),
    Step.COPIES: ("部数を選択", "Choose the number of copies"),
    Step.CONFIRM: ("内容の確認", "Confirm"),
    Step.PAY: ("料金を投入してください", "Insert the fee"),
    Step.PRINT: ("印刷しています", "Printing"),
    Step.REMINDER: ("証明書をお取りください", "Please take your certificates"),
    Step.RECEIPT: ("利用明細書をお取りください", "Please take your receipt"),
}

TAKE_CARD = Announcement("take-card", "カードのお取り忘れにご注意ください", "Do not forget your card")
CLOSED_WHILE_PRINTING = "closed-while-printing"  # the refusal code: the paper is out, the order was closed
_CLOSED_WHILE_PRINTING = (
    "the order was closed while printing: the certificate printed is void and your money is returned",
    "印刷中に取引が終了したため、印刷された証明書は無効です。料金をお返しします",
)
TAKE_CERTIFICATE = Announcement(
    "take-certificate", "証明書のお取り忘れにご注意ください", "Please take your certificates from the tray"
)
TAKE_MONEY = Announcement("take-money", "お釣りをお取りください", "Please take your change")
REFUNDED = Announcement(
    "refund", "印刷できなかったため、料金をお返しします", "The certificate could not be printed: your money is returned"
)


class CenterPort(Protocol):
    """What the kiosk needs from the center (`CenterClient` over HTTPS, `LocalCenter` in one process)."""

    kiosk_id: str

    def open_session(self) -> wire.SessionOpened: ...

    def authenticate_jpki(self, session_id: str, certificate: bytes, signature: bytes) -> wire.Authenticated: ...

    def authenticate_card_app(self, session_id: str, user_id: str) -> wire.Authenticated: ...

    def prove_card_app(self, session_id: str, signature: bytes) -> wire.MenuView: ...

    def order(
        self,
        session_id: str,
        type: str,
        *,
        kind: str = "self",
        members: list[str] | tuple[str, ...] = (),
        items: list[str] | tuple[str, ...] = (),
        copies: int = 1,
        fiscal_year: int | None = None,
    ) -> wire.OrderQuoted: ...

    def pay(self, order_id: str, coins: dict[str, int]) -> wire.PaymentState: ...

    def documents(self, order_id: str) -> wire.Delivery: ...

    def print_result(self, order_id: str, job_id: str, ok: bool, error: str | None = None) -> wire.OrderOutcome: ...

    def cancel(self, order_id: str) -> wire.OrderOutcome: ...


@dataclass(frozen=True)
class Script:
    """The user's choices, in the order the screens ask for them."""

    card: Reader
    pins: Sequence[str]  # attempts, in order (a wrong one reports the tries left and stops unless another follows)
    type: str
    kind: str = "self"
    members: Sequence[str] = ()
    items: Sequence[str] = ()
    copies: int = 1
    fiscal_year: int | None = None
    coins: Sequence[int] = ()
    method: str = "jpki"  # or "card-app"
    accept_terms: bool = True
    confirm: bool = True
    reminders: int = 2  # the reminder plays this many times before the user presses stop


@dataclass
class KioskResult:
    ok: bool
    status: str  # completed · refused · refunded · cancelled · card-error
    exit_code: int
    order_id: str | None = None
    tenant: str | None = None
    municipality: str | None = None
    number: str | None = None
    files: list[str] = field(default_factory=list)
    paid: int = 0
    total: int = 0
    change: int = 0
    refund: int = 0
    refusal: str | None = None
    message_en: str | None = None
    message_ja: str | None = None
    tries_left: int | None = None
    receipt: str | None = None
    steps: list[str] = field(default_factory=list)
    elapsed_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "order_id": self.order_id,
            "tenant": self.tenant,
            "municipality": self.municipality,
            "number": self.number,
            "files": self.files,
            "paid": self.paid,
            "total": self.total,
            "change": self.change,
            "refund": self.refund,
            "refusal": self.refusal,
            "message_en": self.message_en,
            "message_ja": self.message_ja,
            "tries_left": self.tries_left,
            "receipt": self.receipt,
            "steps": self.steps,
            "elapsed_ms": self.elapsed_ms,
        }


class Stop(Exception):
    """Ends the flow with a result (raised inside `Kiosk.run`)."""

    def __init__(self, status: str, exit_code: int, code: str, message_en: str, message_ja: str) -> None:
        super().__init__(code)
        self.status = status
        self.exit_code = exit_code
        self.code = code
        self.message_en = message_en
        self.message_ja = message_ja


def refused(exc: KofuError) -> Stop:
    """The ending for a refusal by the center (its first refusal's code, all their messages)."""
    refusals = getattr(exc, "refusals", None) or []
    code = refusals[0].code if refusals else exc.code
    en = "; ".join(r.message_en for r in refusals) or exc.message_en
    ja = "".join(r.message_ja for r in refusals) or exc.message_ja
    return Stop("refused", 2, str(code), en, ja)


@dataclass
class Devices:
    slot: CardSlot
    coins: CoinVendor
    printer: Printer
    speaker: Speaker
    receipts: ReceiptPrinter


class Kiosk:
    """One terminal. `run(script)` walks one customer through the steps; the devices persist across runs."""

    def __init__(self, center: CenterPort, devices: Devices) -> None:
        self.center = center
        self.devices = devices

    # ------------------------------------------------------------------ the run

    def run(self, script: Script) -> KioskResult:
        started = time.perf_counter()
        run = self.start(script.card, method=script.method, reminders=script.reminders)
        try:
            run.walk(script)
        except KofuError as exc:  # an answer the flow did not expect: report it, never print after it
            run.result.ok = False
            run.result.status = "error"
            run.result.exit_code = 3 if run.paid_accepted else 2
            run.result.refusal = exc.code
            run.result.message_en = exc.message_en
            run.result.message_ja = exc.message_ja
        except Stop as stop:
            run.result.ok = False
            run.result.status = stop.status
            run.result.exit_code = stop.exit_code
            run.result.refusal = stop.code
            run.result.message_en = stop.message_en
            run.result.message_ja = stop.message_ja
        finally:
            self.devices.slot.remove()  # whatever happened, the card is not left verified on the reader
        run.result.elapsed_ms = round((time.perf_counter() - started) * 1000)
        return run.result

    def start(self, card: Reader, *, method: str = "jpki", reminders: int = 2) -> Run:
        """One customer's run with `card`, to be taken a step at a time (see `Run`)."""
        return Run(self, card, method=method, reminders=reminders)


class Run:
    """One customer's pass through the steps (kept apart from `Kiosk` so nothing outlives the run).

    The public step methods, in screen order: `place_card`, then for the JPKI method `open_session`,
    `enter_pins`, `authenticate_jpki`, `remove_card`, `choose_type`, and for the card-app method
    `authenticate_card_app`, `choose_type`, `enter_pins`, `prove_card_app`, `remove_card`; then `choose_order`,
    `confirm`, `pay`, `print_documents` (which ends with the reminder and the receipt). `cancel_order` cancels at
    the center.
    A step raises `Stop` when the visit ends there (the figures are in `result`), and lets a center refusal
    (`KofuError`) through for the caller to turn into an ending (`refused`). `walk(script)` takes every step
    with the script's choices, as `Kiosk.run` does.
    """

    def __init__(self, kiosk: Kiosk, card: Reader, *, method: str = "jpki", reminders: int = 2) -> None:
        self.center = kiosk.center
        self.d = kiosk.devices
        self.card = card
        self.method = method
        self.reminders = reminders  # the reminder plays this many times before the user presses stop
        self.result = KioskResult(ok=False, status="started", exit_code=1)
        self.session_id: str | None = None
        self.opened: wire.SessionOpened | None = None
        self.card_serial: str | None = None
        self.menu: wire.MenuView | None = None
        self.entry: wire.MenuEntryView | None = None
        self.order: wire.OrderQuoted | None = None
        self.paid_accepted = False

    def step(self, step: Step) -> None:
        self.result.steps.append(f"{step.value} {step.label}")

    # ------------------------------------------------------------------ driver

    def walk(self, script: Script) -> None:
        s = script
        self.step(Step.TERMS)
        if not s.accept_terms:
            raise Stop(
                "cancelled", 2, "terms-declined", "the terms were not accepted", "利用規約に同意されませんでした"
            )
        client = self.place_card()
        self.step(Step.SERVICE)
        try:
            if self.method == "card-app":
                self.authenticate_card_app(client)
                self.choose_type(s.type)
                self.enter_pins(client, s.pins)
                self.prove_card_app(client)
            else:
                opened = self.open_session()
                self.enter_pins(client, s.pins)
                self.authenticate_jpki(client, opened)
                self.remove_card()
                self.choose_type(s.type)
        except KofuError as exc:
            if isinstance(exc, CardError):
                raise
            raise refused(exc) from exc
        if self.method == "card-app":
            self.remove_card()
        try:
            body = self.choose_order(
                s.type,
                kind=s.kind,
                members=s.members,
                items=s.items,
                copies=s.copies,
                fiscal_year=s.fiscal_year,
            )
            self.confirm(body, accepted=s.confirm)
        except KofuError as exc:
            raise refused(exc) from exc
        self.pay(s.coins)
        self.print_documents()

    # ------------------------------------------------------------------ 1 card

    def place_card(self) -> JpkiClient:
        """Step 1: the card on the reader, read (its user id, or its token and authentication certificate)."""
        self.step(Step.CARD)
        slot = self.d.slot
        slot.place(self.card)
        try:
            slot.reader.connect()
            client = JpkiClient(slot.reader)
            if self.method == "card-app":
                self.user_id = client.read_card_app_user_id()
                return client
            token = client.read_token()
            if not token.startswith(JPKI_TOKEN):
                raise CardError(0x6A82, "not a My Number card")
            self.certificate = client.read_auth_certificate()
            cert = x509.load_der_x509_certificate(self.certificate)
        except (KofuError, ValueError) as exc:
            raise self.card_stop(exc) from exc
        self.card_serial = normalise_serial(cert.serial_number)
        return client

    def card_stop(self, exc: Exception) -> Stop:
        if isinstance(exc, WrongPin):
            self.result.tries_left = exc.tries_left
            return Stop("card-error", 4, exc.code, exc.message_en, exc.message_ja)
        if isinstance(exc, PinBlocked):
            self.result.tries_left = 0
            return Stop("card-error", 4, exc.code, exc.message_en, exc.message_ja)
        return Stop(
            "card-error",
            4,
            getattr(exc, "code", "card-unusable"),
            "this card cannot be used for certificate issuance",
            "このカードはご利用いただけません",
        )

    # ------------------------------------------------------------------ 3 PIN (JPKI method)

    def enter_pins(self, client: JpkiClient, pins: Sequence[str]) -> None:
        """Step 3: the PIN attempts in order (the method's PIN); a wrong last one, or a lock, ends the visit."""
        if self.method == "card-app":
            self._verify_pins(client.verify_card_app_pin, client.card_app_pin_status, pins)
        else:
            self._verify_pins(client.verify_auth_pin, client.auth_pin_status, pins)

    def _verify_pins(self, verify: Any, status: Any, pins: Sequence[str]) -> None:
        self.step(Step.PIN)
        try:
            if status() == 0:
                raise PinBlocked(0x6983)
            for i, pin in enumerate(pins):
                try:
                    verify(pin)
                    self.result.tries_left = None
                    return
                except WrongPin as exc:
                    self.result.tries_left = exc.tries_left
                    if i == len(pins) - 1 or exc.tries_left == 0:
                        raise
            raise CardError(0x6982, "no PIN entered")
        except CardError as exc:
            raise self.card_stop(exc) from exc

    def open_session(self) -> wire.SessionOpened:
        """A session at the center (its nonce is what the card signs)."""
        opened = self.center.open_session()
        self.session_id = opened.session_id
        self.opened = opened
        return opened

    def authenticate_jpki(self, client: JpkiClient, opened: wire.SessionOpened) -> None:
        """After the PIN: the card signs the session's challenge; the center checks it and answers the menu."""
        try:
            signature = client.sign_auth_sha256(challenge_bytes(opened.session_id, self.center.kiosk_id, opened.nonce))
        except CardError as exc:
            raise self.card_stop(exc) from exc
        auth = self.center.authenticate_jpki(opened.session_id, self.certificate, signature)
        self.authenticated(auth)

    def authenticated(self, auth: wire.Authenticated) -> None:
        self.result.tenant = auth.tenant
        self.result.municipality = auth.municipality
        self.menu = auth.menu
        if auth.menu.refusals:
            r = auth.menu.refusals
            raise Stop("refused", 2, r[0].code, "; ".join(x.message_en for x in r), "".join(x.message_ja for x in r))

    # ------------------------------------------------------------------ card-app method

    def authenticate_card_app(self, client: JpkiClient) -> None:
        """Card-app method: the card's user id opens a provisional session and its menu (the PIN follows the type)."""
        opened = self.open_session()
        self.authenticated(self.center.authenticate_card_app(opened.session_id, self.user_id))

    def prove_card_app(self, client: JpkiClient) -> None:
        """Card-app method, after the PIN (card still on the reader): the card AP signs the session's challenge;
        the center checks it against the card's registered key — without it there is no order."""
        assert self.opened is not None
        opened = self.opened
        try:
            signature = client.card_app_authenticate(
                challenge_bytes(opened.session_id, self.center.kiosk_id, opened.nonce)
            )
        except CardError as exc:
            raise self.card_stop(exc) from exc
        self.menu = self.center.prove_card_app(opened.session_id, signature)

    # ------------------------------------------------------------------ 4 remove the card

    def remove_card(self) -> None:
        self.step(Step.REMOVE_CARD)
        self.d.slot.remove()
        self.d.speaker.say(TAKE_CARD)

    # ------------------------------------------------------------------ 5–9 choices

    def choose_type(self, type: str) -> None:
        """Step 5: the certificate type, checked against the menu (not offered, not available: `Stop`)."""
        self.step(Step.TYPE)
        assert self.menu is not None
        entry = next((e for e in self.menu.entries if e.type == type), None)
        if entry is None:
            raise Stop(
                "refused",
                2,
                "type-not-offered",
                "this certificate is not offered by your municipality at convenience stores",
                "この証明書はお住まいの市区町村ではコンビニ交付の対象外です",
            )
        if not entry.available:
            r = entry.refusals
            code = r[0].code if r else "type-not-available"
            raise Stop(
                "refused",
                2,
                code,
                "; ".join(x.message_en for x in r) or "not available",
                "".join(x.message_ja for x in r) or "ご利用いただけません",
            )
        self.entry = entry

    def choose_order(
        self,
        type: str,
        *,
        kind: str = "self",
        members: Sequence[str] = (),
        items: Sequence[str] = (),
        copies: int = 1,
        fiscal_year: int | None = None,
    ) -> wire.OrderBody:
        """Steps 6–8: whose certificate, its printed items, the copies (checked by the center on `confirm`)."""
        self.step(Step.KIND)
        self.step(Step.ITEMS)
        self.step(Step.COPIES)
        return wire.OrderBody(
            type=type,
            kind=kind,
            members=list(members),
            items=list(items),
            copies=copies,
            fiscal_year=fiscal_year,
        )

    def confirm(self, body: wire.OrderBody, *, accepted: bool = True) -> None:
        """Step 9: the customer confirms (or cancels: `Stop`); the center quotes the order."""
        self.step(Step.CONFIRM)
        if not accepted:
            raise Stop("cancelled", 2, "cancelled", "cancelled by the user", "取り消しました")
        assert self.session_id is not None
        self.order = self.center.order(
            self.session_id,
            body.type,
            kind=body.kind,
            members=list(body.members),
            items=list(body.items),
            copies=body.copies,
            fiscal_year=body.fiscal_year,
        )
        self.result.order_id = self.order.order_id
        self.result.total = self.order.total

    # ------------------------------------------------------------------ 10 pay

    def cancel_order(self) -> int:
        """Cancel the order at the center; returns the refund it reports (0 if none was due)."""
        assert self.order is not None
        try:
            outcome = self.center.cancel(self.order.order_id)
        except KofuError as exc:
            # Already closed by the center (issuer failure, timeout): closing without issuing refunds
            # everything paid, so the coins go back although this cancel found nothing left to do.
            if exc.code in ("order-closed", "order-expired") and self.paid_accepted:
                return self.result.paid
            return 0
        return outcome.refund

    def pay(self, coins: Sequence[int] = ()) -> None:
        """Step 10: `coins` join those already in the vendor's escrow; too little is refunded (`Stop`)."""
        self.step(Step.PAY)
        assert self.order is not None
        vendor = self.d.coins
        for coin in coins:
            vendor.insert(coin)
        self.result.paid = vendor.inserted
        try:
            state = self.center.pay(self.order.order_id, vendor.escrow_coins())
        except KofuError as exc:
            self.cancel_order()
            self.result.refund = vendor.return_escrow()
            raise refused(exc) from exc
        if state.due > 0:
            self.cancel_order()
            self.result.refund = vendor.return_escrow()
            raise Stop(
                "refused",
                2,
                "insufficient-payment",
                f"{state.paid} yen paid, {state.total} yen due: your money is returned",
                f"投入金額（{state.paid}円）が料金（{state.total}円）に足りません。返却します",
            )
        self.result.paid = state.paid
        vendor.accept()
        self.paid_accepted = True

    # ------------------------------------------------------------------ 11–13 print, reminder, receipt

    def refund(self, amount: int, code: str, en: str, ja: str) -> Stop:
        self.result.refund = amount
        if amount:
            self.d.coins.pay_out(amount, "refund")
            self.d.speaker.say(REFUNDED)
        self.print_slip("refund", "返金明細 / Refund", [("返金 / refund", f"{amount}円")])
        return Stop("refunded", 3, code, en, ja)

    def print_documents(self) -> None:
        """Steps 11–13: check every job's binding, print, then the reminder, change and receipt."""
        self.step(Step.PRINT)
        assert self.order is not None
        order_id = self.order.order_id
        try:
            delivery = self.center.documents(order_id)
        except KofuError as exc:
            refund = self.cancel_order()
            raise self.refund(refund, exc.code, exc.message_en, exc.message_ja) from exc
        # Check every job before printing any (rule 2): a wrong one stops the whole order.
        checked: list[tuple[str, int, bytes]] = []
        failure: tuple[str, str, str] | None = None  # (job id, code, detail)
        for job in delivery.jobs:
            try:
                pdf = job.pdf_bytes()
            except ValueError:
                pdf = b""
            problems = binding_problems(
                job_order_id=job.order_id,
                job_cert_serial=job.cert_serial,
                job_sha256=job.document_sha256,
                pdf=pdf,
                order_id=order_id,
                card_serial=self.card_serial,
            )
            if problems:
                failure = (job.job_id, "binding-mismatch", "; ".join(problems))
                break
            checked.append((job.job_id, job.copies, pdf))
        if not delivery.jobs:
            failure = ("", "no-print-job", "no print job was delivered")
        del delivery
        outcome: wire.OrderOutcome | None = None
        if failure is None:
            for index, (job_id, copies, pdf) in enumerate(checked):
                fault_point("kiosk", "mid-print")  # test-only power loss (KOFU_FAULT), see kofu.common.faults
                try:
                    paths = self.d.printer.print_document(f"{order_id}-{index + 1}", pdf, copies)
                except DeviceError as exc:
                    code = f"printer-{exc.fault.value}" if isinstance(exc, PrinterError) else exc.code
                    failure = (job_id, code, exc.message_en)
                    break
                finally:
                    checked[index] = (job_id, copies, b"")  # the kiosk keeps no copy of what it printed
                self.result.files += [str(p) for p in paths]
                try:
                    outcome = self.center.print_result(order_id, job_id, True)
                except KofuError as exc:
                    # The center closed the order while it printed (a print slower than the order's deadline,
                    # an order expired between steps) or its answer was lost: it refunds and voids what it
                    # closed, so the coins must go back here too — a voided certificate and kept coins would
                    # leave the books refunded and the customer paid.
                    del checked
                    raise self.refund(self.cancel_order(), CLOSED_WHILE_PRINTING, *_CLOSED_WHILE_PRINTING) from exc
        del checked
        if failure is not None:
            job_id, code, detail = failure
            try:
                outcome = self.center.print_result(order_id, job_id, False, code) if job_id else None
            except KofuError:
                outcome = None
            refund = outcome.refund if outcome is not None and outcome.status != "completed" else 0
            if outcome is None:
                refund = self.cancel_order()
            raise self.refund(
                refund,
                code,
                f"the certificate could not be printed ({detail}); it was voided and your money returned",
                "証明書を印刷できませんでした。発行は取り消され、料金をお返しします",
            )
        assert outcome is not None
        if outcome.status != "completed":  # closed by the center, not by this print: what it refunded goes back
            raise self.refund(outcome.refund, CLOSED_WHILE_PRINTING, *_CLOSED_WHILE_PRINTING)
        self.completed(outcome)

    def completed(self, outcome: wire.OrderOutcome) -> None:
        self.step(Step.REMINDER)
        for _ in range(max(1, self.reminders)):
            self.d.speaker.say(TAKE_CERTIFICATE)  # until the user presses 停止
        self.result.change = outcome.change
        if outcome.change:
            self.d.coins.pay_out(outcome.change, "change")
            self.d.speaker.say(TAKE_MONEY)
        self.step(Step.RECEIPT)
        r = outcome.receipt
        if r is not None:
            self.result.number = r.number
            self.print_slip(
                "receipt",
                "利用明細書 / Receipt",
                [
                    ("市区町村 / municipality", r.municipality),
                    ("証明書 / certificate", r.title_ja),
                    ("発行番号 / number", r.number),
                    ("部数 / copies", str(r.copies)),
                    ("手数料 / fee", f"{r.fee_each}円 × {r.copies} = {r.total}円"),
                    ("お預かり / paid", f"{r.paid}円"),
                    ("お釣り / change", f"{r.change}円"),
                    ("発行日時 / issued", r.issued_at.isoformat()),
                ],
            )
        self.result.ok = True
        self.result.status = "completed"
        self.result.exit_code = 0

    def print_slip(self, kind: str, title: str, lines: list[tuple[str, str]]) -> None:
        order_id = self.result.order_id or "no-order"
        data = {"kind": kind, "order_id": order_id, "lines": dict(lines)}
        path = self.d.receipts.print_receipt(f"{kind}-{order_id}", title, [("注文 / order", order_id), *lines], data)
        self.result.receipt = str(path)
