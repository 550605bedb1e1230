"""The kiosk's devices and the binding check on their own."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from kofu.common.errors import InvalidInput
from kofu.kiosk.binding import binding_problems, normalise_serial
from kofu.kiosk.devices import CoinVendor, DeviceError, Printer, PrinterError, PrinterFault, make_change


def test_coin_vendor_escrow_cash_box_and_change() -> None:
    vendor = CoinVendor({10: 5, 50: 1, 100: 0, 500: 0})
    assert CoinVendor.parse("100x2, 50,1000") == [100, 100, 50, 1000]
    for coin in CoinVendor.parse("1000"):
        vendor.insert(coin)
    assert vendor.escrow_coins() == {"1000": 1} and vendor.accept() == 1000 and vendor.cash_box[1000] == 1
    assert vendor.pay_out(60, "change") == {50: 1, 10: 1}
    with pytest.raises(DeviceError):
        vendor.pay_out(500, "change")  # the box holds no 500 and too few small coins
    vendor.insert(100)
    assert vendor.return_escrow() == 100 and vendor.paid_out[-1] == ("returned", 100, {100: 1})
    with pytest.raises(InvalidInput):
        CoinVendor.parse("5")
    with pytest.raises(InvalidInput):
        vendor.insert(2000)
    assert make_change(30, Counter({10: 2})) is None


def test_printer_writes_through_temp_files_and_faults(tmp_path: Path) -> None:
    printer = Printer(tmp_path, paper=3)
    paths = printer.print_document("order-1", b"%PDF-1.7 x", 2)
    assert [p.name for p in paths] == ["order-1-1.pdf", "order-1-2.pdf"] and printer.paper == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["order-1-1.pdf", "order-1-2.pdf"]
    with pytest.raises(PrinterError) as out:
        printer.print_document("order-2", b"%PDF", 2)
    assert out.value.fault is PrinterFault.PAPER_OUT
    printer.fault = PrinterFault.JAM
    with pytest.raises(PrinterError, match="jam"):
        printer.print_document("order-3", b"%PDF", 1)
    with pytest.raises(InvalidInput):
        Printer(tmp_path).print_document("../escape", b"%PDF", 1)
    assert len(list(tmp_path.iterdir())) == 2


def test_binding_check() -> None:
    pdf = b"%PDF-1.7 document"
    good = {"job_order_id": "O1", "job_cert_serial": "00:ab:CD", "job_sha256": hashlib.sha256(pdf).hexdigest()}
    assert normalise_serial("0x00abcd") == normalise_serial(0xABCD) == "ABCD"
    assert binding_problems(**good, pdf=pdf, order_id="O1", card_serial="ABCD") == []
    assert binding_problems(**good, pdf=pdf, order_id="O2", card_serial="ABCD") == ["job belongs to another order"]
    assert binding_problems(**good, pdf=pdf, order_id="O1", card_serial="ABCE") == ["job is bound to another card"]
    assert binding_problems(**good, pdf=pdf + b" ", order_id="O1", card_serial="ABCD") == [
        "document hash does not match the job"
    ]
