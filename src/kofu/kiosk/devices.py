"""The kiosk's devices, each a small class behind a small interface.

- `CardSlot`: the contactless reader; holds a `Reader` while a card lies on it.
- `CoinVendor`: takes coins and notes (10/50/100/500/1000 yen) into escrow, keeps a cash box, pays out
  change and refunds from it.
- `Printer`: prints a document to a PDF file in its output directory (the paper that leaves the machine);
  can be told to jam or to run out of paper.
- `Speaker`: plays announcements and records what it played.
- `ReceiptPrinter`: writes the receipt (or the refund slip) as JSON and text.

None of them keeps a document: the printer writes straight to its output directory (through a temporary
file in that same directory, renamed into place or removed on failure) and holds no bytes afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kofu.card.readers import Reader
from kofu.common.errors import InvalidInput, KofuError

DENOMINATIONS = (1000, 500, 100, 50, 10)


class DeviceError(KofuError):
    code = "kiosk-device-error"


# ---------------------------------------------------------------------------------------------- card slot


class CardSlot:
    """The card reader. `place(reader)` puts a card on it; `remove()` takes it away (and powers it down)."""

    def __init__(self, reader: Reader | None = None) -> None:
        self._reader = reader
        self.placed = 0
        self.removed = 0

    def place(self, reader: Reader) -> None:
        self._reader = reader
        self.placed += 1

    @property
    def present(self) -> bool:
        return self._reader is not None

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise DeviceError("no card on the reader", "カードが置かれていません")
        return self._reader

    def remove(self) -> None:
        """The card leaves the reader: it is reset (nothing verified survives) and powered down."""
        if self._reader is None:
            return
        try:
            self._reader.reset()
        finally:
            self._reader.disconnect()
            self._reader = None
            self.removed += 1


# ---------------------------------------------------------------------------------------------- coins


def make_change(amount: int, available: Counter[int]) -> Counter[int] | None:
    """Coins for `amount` from what is `available` (largest first), or None when it cannot be made."""
    out: Counter[int] = Counter()
    left = amount
    for d in DENOMINATIONS:
        n = min(left // d, available[d])
        if n:
            out[d] = n
            left -= n * d
    return out if left == 0 else None


class CoinVendor:
    """Coins go into escrow; `accept()` moves the escrow into the cash box; change and refunds come out of it.

    `float_` is the change the store put in the machine in the morning."""

    def __init__(self, float_: dict[int, int] | None = None) -> None:
        self.cash_box: Counter[int] = Counter(float_ if float_ is not None else {10: 50, 50: 20, 100: 50, 500: 20})
        self.escrow: Counter[int] = Counter()
        self.paid_out: list[tuple[str, int, dict[int, int]]] = []  # (why, amount, coins)

    @staticmethod
    def parse(text: str) -> list[int]:
        """'100,100,50' → [100, 100, 50]; also '100x2,50'."""
        coins: list[int] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            value, _, times = part.partition("x")
            try:
                coin, n = int(value), int(times or 1)
            except ValueError:
                raise InvalidInput(f"not a coin: {part!r}", f"硬貨の指定が正しくありません: {part}") from None
            if coin not in DENOMINATIONS or n < 1:
                raise InvalidInput(
                    f"the machine takes 10, 50, 100, 500 and 1000 yen, not {part!r}",
                    f"使用できる硬貨・紙幣は10円・50円・100円・500円・1000円です（{part}）",
                )
            coins += [coin] * n
        return coins

    def insert(self, coin: int) -> int:
        """One coin or note into escrow; returns the escrow total."""
        if coin not in DENOMINATIONS:
            raise InvalidInput(f"the machine does not take {coin} yen", f"{coin}円は使用できません")
        self.escrow[coin] += 1
        return self.inserted

    @property
    def inserted(self) -> int:
        return sum(d * n for d, n in self.escrow.items())

    def escrow_coins(self) -> dict[str, int]:
        return {str(d): n for d, n in sorted(self.escrow.items()) if n}

    def accept(self) -> int:
        """The sale goes through: escrow into the cash box. Returns the amount taken."""
        taken = self.inserted
        self.cash_box += self.escrow
        self.escrow = Counter()
        return taken

    def return_escrow(self) -> int:
        """Cancel before the sale: the very coins inserted come back."""
        amount = self.inserted
        if amount:
            self.paid_out.append(("returned", amount, dict(self.escrow)))
        self.escrow = Counter()
        return amount

    def pay_out(self, amount: int, why: str) -> dict[int, int]:
        """Change or a refund from the cash box."""
        if amount < 0:
            raise InvalidInput("cannot pay out a negative amount")
        if amount == 0:
            return {}
        coins = make_change(amount, self.cash_box)
        if coins is None:
            raise DeviceError(
                f"the cash box cannot make {amount} yen; call the store staff",
                f"釣銭が不足しています（{amount}円）。店員をお呼びください",
            )
        self.cash_box -= coins
        self.paid_out.append((why, amount, dict(coins)))
        return dict(coins)

    @property
    def cash_total(self) -> int:
        return sum(d * n for d, n in self.cash_box.items())


# ---------------------------------------------------------------------------------------------- printer


class PrinterFault(StrEnum):
    JAM = "jam"
    PAPER_OUT = "paper-out"


class PrinterError(DeviceError):
    code = "printer-fault"

    def __init__(self, fault: PrinterFault) -> None:
        messages = {
            PrinterFault.JAM: ("paper jam", "紙詰まりが発生しました"),
            PrinterFault.PAPER_OUT: ("out of paper", "用紙がありません"),
        }
        super().__init__(*messages[fault])
        self.fault = fault


@dataclass
class Printer:
    """Prints to PDF files in `out_dir`. `fault` makes the next print fail; `paper` counts sheets left
    (one per copy; None: endless)."""

    out_dir: Path
    fault: PrinterFault | None = None
    paper: int | None = None
    printed: list[Path] = field(default_factory=list)

    def print_document(self, name: str, pdf: bytes, copies: int) -> list[Path]:
        """Print `copies` copies; each is written through a temp file in `out_dir` and renamed into place."""
        if self.fault is not None:
            raise PrinterError(self.fault)
        if self.paper is not None and self.paper < copies:
            raise PrinterError(PrinterFault.PAPER_OUT)
        if not name or "/" in name or name.startswith("."):
            raise InvalidInput(f"bad output name {name!r}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for copy in range(1, copies + 1):
            path = self.out_dir / (f"{name}.pdf" if copies == 1 else f"{name}-{copy}.pdf")
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=self.out_dir)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pdf)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            paths.append(path)
            if self.paper is not None:
                self.paper -= 1
        self.printed += paths
        return paths


# ---------------------------------------------------------------------------------------------- speaker


@dataclass(frozen=True)
class Announcement:
    key: str
    ja: str
    en: str


@dataclass
class Speaker:
    """Plays announcements; `played` is what the user heard, in order."""

    played: list[Announcement] = field(default_factory=list)

    def say(self, announcement: Announcement) -> None:
        self.played.append(announcement)

    def count(self, key: str) -> int:
        return sum(1 for a in self.played if a.key == key)


# ---------------------------------------------------------------------------------------------- receipt


@dataclass
class ReceiptPrinter:
    """Writes receipts (利用明細) and refund slips to `out_dir` as `<name>.json` and `<name>.txt`."""

    out_dir: Path
    printed: list[Path] = field(default_factory=list)

    def print_receipt(self, name: str, title: str, lines: list[tuple[str, str]], data: dict[str, Any]) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        width = max((len(k) for k, _ in lines), default=0)
        text = "\n".join([title, "-" * 32, *(f"{k.ljust(width)}  {v}" for k, v in lines), ""])
        txt = self.out_dir / f"{name}.txt"
        txt.write_text(text, encoding="utf-8")
        path = self.out_dir / f"{name}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
        self.printed += [path, txt]
        return path
