"""ARCHITECTURE rule 2: print only a job bound to this order, this card and this very document.

A job names its order id, the serial of the certificate that authenticated the session and the SHA-256
of its PDF. The kiosk compares them with what it knows itself — the order it placed, the certificate it
read from the card on its own reader, and the hash it computes over the bytes it received — and prints
nothing when any of them differs.
"""

from __future__ import annotations

import hashlib
import hmac


def normalise_serial(serial: str | int | None) -> str | None:
    """Upper-case hex without leading zeros, colons or 0x; None stays None."""
    if serial is None:
        return None
    if isinstance(serial, int):
        return format(serial, "X")
    text = serial.strip().replace(":", "").upper().removeprefix("0X").lstrip("0")
    return text or "0"


def binding_problems(
    *,
    job_order_id: str,
    job_cert_serial: str | None,
    job_sha256: str,
    pdf: bytes,
    order_id: str,
    card_serial: str | None,
) -> list[str]:
    """Why this job must not be printed (empty: it may)."""
    problems: list[str] = []
    if job_order_id != order_id:
        problems.append("job belongs to another order")
    if normalise_serial(job_cert_serial) != normalise_serial(card_serial):
        problems.append("job is bound to another card")
    actual = hashlib.sha256(pdf).hexdigest()
    if not hmac.compare_digest(actual, job_sha256.strip().lower()):
        problems.append("document hash does not match the job")
    return problems
