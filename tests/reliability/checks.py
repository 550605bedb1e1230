"""Checks a printed document against the card that asked for it — what a clerk would look at: the
resident's name in the text (pdftotext), the statement in the QR code (pdftoppm + zbarimg) and in the PDF,
and the issuer's record of that statement (resident, order)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import Connection, select

from kofu.center.store import orders, payments
from kofu.issuer.statement import decode
from kofu.issuer.store import issuances
from kofu.render.inspect import read_statement


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return re.sub(r"\s+", "", out.stdout.decode("utf-8"))


def qr_text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page"
        subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", "-", str(page)], input=pdf, check=True)
        (png,) = Path(tmp).glob("page*.png")
        out = subprocess.run(
            ["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)], capture_output=True, check=True
        )
    return out.stdout.decode().strip()


def document_problems(
    conn: Connection,
    pdf: bytes,
    *,
    resident_id: str,
    name: str,
    order_id: str,
    tenant: str | None = None,
    qr: bool = False,
) -> list[str]:
    """Empty when the document is this resident's, for this order; else what is wrong."""
    problems: list[str] = []
    statement_text = read_statement(pdf)
    if statement_text is None:
        return ["no statement in the PDF"]
    statement, _, _ = decode(statement_text)
    if tenant is not None and statement.tenant != tenant:
        problems.append(f"issued by {statement.tenant}, card of {tenant}")
    if qr and qr_text(pdf) != statement_text:
        problems.append("the QR code differs from the PDF's statement")
    row = conn.execute(
        select(issuances.c.resident_id, issuances.c.order_id).where(
            issuances.c.tenant == statement.tenant, issuances.c.number == statement.number
        )
    ).one_or_none()
    if row is None:
        return [*problems, f"no issuance {statement.tenant}-{statement.number}"]
    if row.resident_id != resident_id:
        problems.append(f"issued for {row.resident_id}, card of {resident_id}")
    if row.order_id != order_id:
        problems.append(f"issued for order {row.order_id}, asked by {order_id}")
    if name.replace("　", "") not in pdf_text(pdf):
        problems.append(f"{resident_id}'s name is not in the text")
    return problems


def ledger_problems(conn: Connection) -> list[str]:
    """Empty when every order is closed and matched or refunded, every issuance number is used once and
    each one is either the live certificate of a completed order or voided, and no void waits."""
    problems: list[str] = []
    money: dict[str, dict[str, int]] = {}
    for order_id, kind, amount in conn.execute(select(payments.c.order_id, payments.c.kind, payments.c.amount)):
        money.setdefault(order_id, {"in": 0, "refund": 0, "change": 0})[kind] += int(amount)
    docs = conn.execute(select(issuances)).mappings().all()
    live = {d["order_id"]: d for d in docs if d["status"] == "issued"}
    for o in conn.execute(select(orders)).mappings():
        oid, status, paid = o["order_id"], o["status"], int(o["paid"])
        m = money.get(oid, {"in": 0, "refund": 0, "change": 0})
        if m["in"] != paid:
            problems.append(f"{oid}: coins in {m['in']} ≠ paid {paid}")
        if o["void_pending"]:
            problems.append(f"{oid}: a void is still pending")
        if status == "completed":
            doc = live.get(oid)
            if doc is None or doc["number"] != o["number"]:
                problems.append(f"{oid}: completed without its live issuance")
            if m["refund"] or m["change"] != paid - int(o["total"]):
                problems.append(f"{oid}: completed but refund {m['refund']}, change {m['change']}")
        elif status in ("refunded", "cancelled"):
            if m["refund"] != paid or int(o["refunded"]) != paid:
                problems.append(f"{oid}: {status} with {paid} paid but {m['refund']} refunded")
            if oid in live:
                problems.append(f"{oid}: {status} but issuance {live[oid]['number']} is live")
        else:
            problems.append(f"{oid}: still {status}")
    completed = {
        o.order_id for o in conn.execute(select(orders.c.order_id).where(orders.c.status == "completed")).all()
    }
    by_tenant: dict[str, list[int]] = {}
    for d in docs:
        by_tenant.setdefault(d["tenant"], []).append(int(d["number"]))
        if d["status"] == "issued" and d["order_id"] not in completed:
            problems.append(f"issuance {d['number']} is live for an order that did not complete")
        if d["status"] == "voided" and not d["void_reason"]:
            problems.append(f"issuance {d['number']} voided without a reason")
    for tenant, numbers in by_tenant.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            problems.append(f"{tenant}: numbers {sorted(numbers)} are not 1…n once each")
    return problems
