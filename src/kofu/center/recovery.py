"""Reconciliation when the center starts, and a sweeper while it runs (docs/reliability.md, "Crashes and
faults").

A center killed mid-transaction (kill -9, power loss) leaves orders open: paid but never issued, `issuing`
with a document the issuer may have committed but the center never recorded, `delivered` without a print
result. None of them can end well any more once their deadline has passed: the kiosk gave up. `recover`
ends each such order the one safe way — refund everything paid and void at the issuer what was issued for
it, by number when the center knows it, else every issuance of the order id (`IssuerGateway.void_order`,
idempotent) — each step with its audit entry, and retries voids left pending because the issuer was
unreachable. Orders still within their deadline are left alone: their kiosk may still finish them (several
center processes may share the database, and another one may be issuing right now).

`recover` runs when `kofu serve center` starts, then every `--sweep-every` seconds (`Sweeper`), and on
demand as `kofu center recover`. It never completes an order: only a kiosk's print result does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from kofu.center.model import OrderStatus
from kofu.center.service import CenterService
from kofu.center.store import audit, orders

log = logging.getLogger("kofu.center.recovery")

OPEN = (OrderStatus.QUOTED.value, OrderStatus.PAID.value, OrderStatus.ISSUING.value, OrderStatus.DELIVERED.value)


@dataclass(frozen=True)
class Recovery:
    closed: int  # orders ended (refunded or cancelled) by this run
    void_pending: int  # refunded orders whose issuer-side void still waits for the issuer
    open_orders: int  # orders still within their deadline, left to their kiosk


def recover(service: CenterService, now: datetime | None = None, *, record: bool = True) -> Recovery:
    """Ends every open order past its deadline (refund + void), retries pending voids and — with `record` —
    appends a `center.recovered` audit entry with the counts (no personal data)."""
    now = now or service.clock.now()
    closed = service.expire(now)
    with service.engine.begin() as conn:
        pending = conn.execute(select(func.count()).select_from(orders).where(orders.c.void_pending.is_(True)))
        still_pending = int(pending.scalar_one())
        open_orders = int(
            conn.execute(select(func.count()).select_from(orders).where(orders.c.status.in_(OPEN))).scalar_one()
        )
        if record:
            audit(conn).append(
                "center.recovered", now, closed=len(closed), void_pending=still_pending, open_orders=open_orders
            )
    result = Recovery(len(closed), still_pending, open_orders)
    log.info("recovery: %d closed, %d voids pending, %d open", result.closed, result.void_pending, result.open_orders)
    return result


class Sweeper:
    """Runs `recover` every `every` seconds in a daemon thread (audit entries only when it changed
    something), so orders of a kiosk that lost power end without anyone's help."""

    def __init__(self, service: CenterService, every: float) -> None:
        self.service = service
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kofu-center-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                result = recover(self.service, record=False)
                if result.closed:
                    log.info("sweep closed %d orders", result.closed)
            except Exception:  # the database or the issuer is away: try again next round
                log.warning("sweep failed; retrying in %.0f s", self.every, exc_info=True)
