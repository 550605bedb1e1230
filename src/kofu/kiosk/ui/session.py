"""One customer at the touch-screen kiosk: the steps of `kofu.kiosk.flow` taken one screen at a time.

The headless kiosk (`Kiosk.run(script)`) knows every choice up front; here the choices arrive one by one
from the browser. `KioskSession` drives the very same step methods of the flow (`kofu.kiosk.flow.Run`, from
`Kiosk.start`), passing each choice as the customer makes it, so the center protocol, the binding check
before printing and the refunds are the flow's own. A session holds no personal data beyond what the
screen shows (the household members' names of the menu, for 世帯の一部) and no document: after printing it
holds only the paths of the paper in its tray (the PDF files and PNG pictures of the pages), which are
deleted when the customer leaves (`close`).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from kofu.card.client import JpkiClient
from kofu.card.readers import Reader
from kofu.center import protocol as wire
from kofu.common.errors import InvalidInput, KofuError
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, PrinterFault, ReceiptPrinter, Speaker
from kofu.kiosk.flow import CenterPort, Devices, Kiosk, Run, Stop, refused
from kofu.kiosk.ui.i18n import N_


class Screen(StrEnum):
    START = "start"
    TERMS = "terms"
    CARD = "card"
    SERVICE = "service"
    PIN = "pin"
    REMOVE_CARD = "remove-card"
    TYPE = "type"
    KIND = "kind"
    ITEMS = "items"
    COPIES = "copies"
    CONFIRM = "confirm"
    PAY = "pay"
    REMINDER = "reminder"
    RECEIPT = "receipt"
    ENDED = "ended"  # refused, card problem, refund, cancel, timeout


# the progress indicator: the customer's stages, in order
PROGRESS: tuple[tuple[str, tuple[Screen, ...]], ...] = (
    (N_("Terms"), (Screen.START, Screen.TERMS)),
    (N_("Card"), (Screen.CARD, Screen.SERVICE, Screen.PIN, Screen.REMOVE_CARD)),
    (N_("Certificate"), (Screen.TYPE, Screen.KIND, Screen.ITEMS, Screen.COPIES)),
    (N_("Confirm"), (Screen.CONFIRM,)),
    (N_("Payment"), (Screen.PAY,)),
    (N_("Printing"), (Screen.REMINDER, Screen.RECEIPT)),
)


@dataclass(frozen=True)
class DemoCard:
    """A card the simulated card slot offers: a label without personal data and how to load it."""

    label: str
    load: Callable[[], Reader]
    case: str = ""


@dataclass
class Ending:
    code: str  # wrong-pin · pin-locked · card-unusable · printer-jam · insufficient-payment · timeout · cancelled · …
    status: str
    message_en: str
    message_ja: str
    refund: int = 0


@dataclass
class ReceiptView:
    number: str
    title_ja: str
    type: str
    copies: int
    fee_each: int
    total: int
    paid: int
    change: int
    issued_at: str


@dataclass
class KioskSession:
    """A browser tab's customer. `id` is a random token (it names the session, nothing about the person)."""

    center: CenterPort
    cards: Sequence[DemoCard]
    work_dir: Path
    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    lang: str = "ja"
    contrast: bool = False
    large: bool = False
    screen: Screen = Screen.START
    method: str = "jpki"
    printer_fault: PrinterFault | None = None
    last_active: float = field(default_factory=time.monotonic)
    # choices
    type: str = ""
    kind: str = "self"
    members: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    copies: int = 1
    fiscal_year: int | None = None
    returning: bool = False  # came from the confirmation to correct one choice
    # outcome
    tries_left: int | None = None
    ending: Ending | None = None
    ended_at: int = 0  # the stage (index in PROGRESS) the customer had reached when the session ended
    pages: list[Path] = field(default_factory=list)
    receipt: ReceiptView | None = None
    change: int = 0
    notice: str | None = None  # a message code shown on the current screen

    def __post_init__(self) -> None:
        self.tray = self.work_dir / f"tray-{secrets.token_hex(8)}"  # made by the printer when it prints
        self.devices = Devices(CardSlot(), CoinVendor(), Printer(self.tray), Speaker(), ReceiptPrinter(self.tray))
        self._run: Run | None = None
        self._client: JpkiClient | None = None
        self._opened: wire.SessionOpened | None = None

    # ------------------------------------------------------------------ state the screens show

    @property
    def menu(self) -> wire.MenuView | None:
        return self._run.menu if self._run is not None else None

    @property
    def entry(self) -> wire.MenuEntryView | None:
        if self.menu is None:
            return None
        return next((e for e in self.menu.entries if e.type == self.type), None)

    @property
    def order(self) -> wire.OrderQuoted | None:
        return self._run.order if self._run is not None else None

    @property
    def inserted(self) -> int:
        return self.devices.coins.inserted

    @property
    def due(self) -> int:
        return max(0, self.order.total - self.inserted) if self.order is not None else 0

    @property
    def card_present(self) -> bool:
        return self.devices.slot.present

    def progress(self) -> int:
        """Index of the current stage in PROGRESS; on the ending screen, the stage where it stopped."""
        if self.screen is Screen.ENDED:
            return self.ended_at
        for i, (_, screens) in enumerate(PROGRESS):
            if self.screen in screens:
                return i
        return 0

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def idle_for(self) -> float:
        return time.monotonic() - self.last_active

    # ------------------------------------------------------------------ the flow

    def _end(self, ending: Ending) -> None:
        self.ending = ending
        self.ended_at = self.progress()
        self.screen = Screen.ENDED
        self.devices.slot.remove()

    def _stop(self, stop: Stop) -> None:
        refund = self._run.result.refund if self._run is not None else 0
        self._end(Ending(stop.code, stop.status, stop.message_en, stop.message_ja, refund))

    def start(self) -> None:
        self.screen = Screen.TERMS

    def accept_terms(self, accepted: bool) -> None:
        if not accepted:
            self._end(
                Ending("terms-declined", "cancelled", "the terms were not accepted", "利用規約に同意されませんでした")
            )
            return
        self.screen = Screen.CARD

    def place_card(self, index: int, method: str = "jpki") -> None:
        """The customer lays demo card `index` on the reader (or a real reader is passed by `place_reader`)."""
        if not 0 <= index < len(self.cards):
            raise InvalidInput("no such demo card", "そのカードはありません")
        self.place_reader(self.cards[index].load(), method)

    def place_reader(self, reader: Reader, method: str = "jpki") -> None:
        if self.screen is not Screen.CARD:
            raise InvalidInput("the kiosk does not ask for the card now", "いまはカードを置く画面ではありません")
        if method not in ("jpki", "card-app"):
            raise InvalidInput(f"unknown method {method!r}")
        self.method = method
        self._run = Kiosk(self.center, self.devices).start(reader, method=method, reminders=1)
        try:
            self._client = self._run.place_card()
        except Stop as stop:
            self._stop(stop)
            return
        self.screen = Screen.SERVICE

    def choose_service(self) -> None:
        assert self._run is not None and self._client is not None
        try:
            if self.method == "card-app":
                self._run.authenticate_card_app(self._client)
                self.screen = Screen.TYPE
            else:
                self._opened = self._run.open_session()
                self.tries_left = self._client.auth_pin_status()
                if self.tries_left == 0:
                    self._end(Ending("card-pin-blocked", "card-error", "PIN locked", "暗証番号がロックされています"))
                    return
                self.screen = Screen.PIN
        except Stop as stop:
            self._stop(stop)
        except KofuError as exc:
            self._stop(refused(exc))

    def enter_pin(self, pin: str) -> None:
        """One PIN attempt: wrong → stay (tries left shown); locked → end; right → on."""
        assert self._run is not None and self._client is not None
        if not (len(pin) == 4 and pin.isdigit()):
            self.notice = "pin-format"
            return
        run, client = self._run, self._client
        try:
            run.enter_pins(client, [pin])
        except Stop as stop:
            self.tries_left = run.result.tries_left
            if stop.code == "card-wrong-pin" and self.tries_left:
                self.notice = "wrong-pin"
                return
            if stop.code in ("card-wrong-pin", "card-pin-blocked"):  # this very attempt locked it
                stop.code = "card-pin-locked-now"
            self._stop(stop)
            return
        self.tries_left = None
        self.notice = None
        try:
            if self.method == "jpki":
                assert self._opened is not None
                run.authenticate_jpki(client, self._opened)
            else:  # card-app: the card AP signs the session's challenge, the center checks it
                run.prove_card_app(client)
        except Stop as stop:
            self._stop(stop)
            return
        except KofuError as exc:
            card_side = self.method == "jpki" and exc.code.startswith("card")  # card-app: the center's own words
            self._stop(run.card_stop(exc) if card_side else refused(exc))
            return
        run.remove_card()
        self.screen = Screen.REMOVE_CARD

    def card_removed(self) -> None:
        if self.method == "card-app":
            self._next_after(Screen.TYPE)
        else:
            self.screen = Screen.TYPE

    def choose_type(self, ctype: str) -> None:
        assert self._run is not None
        try:
            self._run.choose_type(ctype)
        except Stop as stop:
            self.notice = f"refused:{stop.code}"
            return
        if ctype != self.type:
            self.type = ctype
            self.items, self.members, self.kind = [], [], "self"
            entry = self.entry
            self.fiscal_year = entry.fiscal_years[0] if entry is not None and entry.fiscal_years else None
        self.notice = None
        if self.method == "card-app" and self._client is not None and self.card_present:
            self.screen = Screen.PIN
            self.tries_left = self._client.card_app_pin_status()
            return
        self._next_after(Screen.TYPE)

    def _next_after(self, screen: Screen) -> None:
        """The next choice screen (skipping those the certificate does not have), or back to the confirmation."""
        if self.returning and screen is not Screen.TYPE:
            self.returning = False
            self.screen = Screen.CONFIRM
            return
        entry = self.entry
        order = [Screen.KIND, Screen.ITEMS, Screen.COPIES, Screen.CONFIRM]
        for nxt in order[order.index(screen) + 1 if screen in order else 0 :]:
            if nxt is Screen.KIND and entry is not None and entry.kinds == ["self"]:
                continue
            if nxt is Screen.ITEMS and entry is not None and not entry.items and len(entry.fiscal_years) <= 1:
                continue
            self.screen = nxt
            return

    def choose_kind(self, kind: str, members: Sequence[str] = ()) -> None:
        entry = self.entry
        if entry is None or kind not in entry.kinds:
            raise InvalidInput(f"kind {kind!r} is not offered", "その交付種別は選べません")
        known = {m.resident_id for m in self.menu.members} if self.menu is not None else set()
        chosen = [m for m in members if m in known]
        if kind == "members" and not chosen:
            self.notice = "no-members"
            return
        self.kind, self.members = kind, chosen if kind == "members" else []
        self.notice = None
        self._next_after(Screen.KIND)

    def choose_items(self, items: Sequence[str], fiscal_year: int | None = None) -> None:
        entry = self.entry
        assert entry is not None
        self.items = [i for i in entry.items if i in items]
        if entry.fiscal_years:
            self.fiscal_year = fiscal_year if fiscal_year in entry.fiscal_years else entry.fiscal_years[0]
        self._next_after(Screen.ITEMS)

    def choose_copies(self, copies: int) -> None:
        limit = self.menu.copies_limit if self.menu is not None else 1
        if not 1 <= copies <= limit:
            raise InvalidInput(f"copies must be 1–{limit}", f"部数は1〜{limit}部です")
        self.copies = copies
        self._next_after(Screen.COPIES)

    def correct(self, screen: Screen) -> None:
        """From the confirmation back to one choice's screen; after it the customer returns to the confirmation."""
        if self.screen is not Screen.CONFIRM or screen not in (Screen.TYPE, Screen.KIND, Screen.ITEMS, Screen.COPIES):
            raise InvalidInput("nothing to correct here", "ここでは変更できません")
        self.returning = screen is not Screen.TYPE  # a new type means its kind, items and copies again
        self.screen = screen

    def confirm(self) -> None:
        run = self._run
        assert run is not None
        try:
            body = run.choose_order(
                self.type,
                kind=self.kind,
                members=self.members,
                items=self.items,
                copies=self.copies,
                fiscal_year=self.fiscal_year,
            )
            run.confirm(body)
        except Stop as stop:
            self._stop(stop)
            return
        except KofuError as exc:
            self._stop(refused(exc))
            return
        self.screen = Screen.PAY

    def insert(self, coin: int) -> None:
        if self.screen is not Screen.PAY:
            raise InvalidInput("the coin vendor takes no money now", "いまは料金を投入できません")
        self.devices.coins.insert(coin)

    def pay_and_print(self) -> None:
        """Pay the escrow in and print (the binding is checked first); then the reminder."""
        assert self._run is not None
        if self.due > 0:
            self.notice = "insufficient"
            return
        self.devices.printer.fault = self.printer_fault
        run = self._run
        try:
            run.pay()
            run.print_documents()
        except Stop as stop:
            self._stop(stop)
            return
        except KofuError as exc:
            self._stop(Stop("error", 3, exc.code, exc.message_en, exc.message_ja))
            return
        self.change = run.result.change
        self.pages = self._pictures([Path(f) for f in run.result.files])
        assert run.order is not None
        r = run.result
        self.receipt = ReceiptView(
            number=r.number or "",
            title_ja=self.entry.title_ja if self.entry is not None else "",
            type=self.type,
            copies=self.copies,
            fee_each=run.order.fee_each,
            total=r.total,
            paid=r.paid,
            change=r.change,
            issued_at=time.strftime("%Y-%m-%d %H:%M"),
        )
        self.screen = Screen.REMINDER

    def _pictures(self, pdfs: list[Path]) -> list[Path]:
        """PNG pictures of the printed sheets (poppler's pdftoppm), beside them in the tray."""
        out: list[Path] = []
        for pdf in pdfs:
            prefix = pdf.with_suffix("")
            subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(prefix)], check=True, timeout=60)
            out += sorted(self.tray.glob(f"{prefix.name}-*.png"))
        return out

    def stop_reminder(self) -> None:
        self.screen = Screen.RECEIPT

    def cancel(self, code: str = "cancelled") -> None:
        """The customer presses 取消 (or the idle timeout does): the order is cancelled, the coins come back."""
        refund = 0
        run = self._run
        if self.screen in (Screen.REMINDER, Screen.RECEIPT, Screen.ENDED, Screen.START):
            self.close()
            return
        if run is not None and run.order is not None and not run.paid_accepted:
            run.cancel_order()
            refund = self.devices.coins.return_escrow()
        texts = {
            "timeout": ("the session timed out and was cancelled", "操作がなかったため取り消しました"),
            "cancelled": ("cancelled by the customer", "取り消しました"),
        }
        en, ja = texts.get(code, texts["cancelled"])
        self._end(Ending(code, "cancelled", en, ja, refund))

    def close(self) -> None:
        """The customer leaves: the card leaves the reader, the paper leaves the tray."""
        self.devices.slot.remove()
        self._run = None
        self._client = None
        self.pages = []
        shutil.rmtree(self.tray, ignore_errors=True)
