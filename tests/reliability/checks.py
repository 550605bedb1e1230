"""Checks a printed document against the card that asked for it — what a clerk would look at: the
resident's name in the text (pdftotext), the statement in the QR code (pdftoppm + zbarimg) and in the PDF,
and the issuer's record of that statement (resident, order)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import Connection, select

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
    conn: Connection, pdf: bytes, *, resident_id: str, name: str, order_id: str, qr: bool = False
) -> list[str]:
    """Empty when the document is this resident's, for this order; else what is wrong."""
    problems: list[str] = []
    statement_text = read_statement(pdf)
    if statement_text is None:
        return ["no statement in the PDF"]
    statement, _, _ = decode(statement_text)
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
