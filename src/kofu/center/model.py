"""The center's pure domain: the order state machine, coin arithmetic, expiry rules. No I/O.

    quoted ──pay (paid ≥ total)──▶ paid ──documents──▶ issuing ──▶ delivered ──print ok──▶ completed
       │                             │                    │            │
       └── cancel / timeout ─────────┴── refusal, issuer ─┴── print failure, cancel, timeout ──▶ refunded
           (nothing paid: cancelled)      unreachable

`issuing` is held only while the issuer is being called; it stops a second process from issuing for the
same order (ARCHITECTURE rule 5). Every way out of the happy path refunds everything paid and voids what
was issued (rule 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from kofu.common.errors import KofuError

DENOMINATIONS = (10, 50, 100, 500, 1000)
MAX_COINS_PER_CALL = 1000


class OrderStatus(StrEnum):
    QUOTED = "quoted"
    PAID = "paid"
    ISSUING = "issuing"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (OrderStatus.COMPLETED, OrderStatus.REFUNDED, OrderStatus.CANCELLED)


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.QUOTED: frozenset({OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.ISSUING, OrderStatus.REFUNDED}),
    OrderStatus.ISSUING: frozenset({OrderStatus.DELIVERED, OrderStatus.REFUNDED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.ISSUING, OrderStatus.COMPLETED, OrderStatus.REFUNDED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class IllegalTransition(KofuError):
    code = "order-state"

    def __init__(self, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(
            f"the order is {current.value}; it cannot become {wanted.value}",
            f"この注文は現在「{current.value}」のため「{wanted.value}」にできません。",
        )
        self.current = current
        self.wanted = wanted


def transition(current: OrderStatus, wanted: OrderStatus) -> OrderStatus:
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(current, wanted)
    return wanted


def end_without_issuing(paid: int) -> OrderStatus:
    """Where an order goes when it stops short of completion: refunded if money came in, else cancelled."""
    return OrderStatus.REFUNDED if paid > 0 else OrderStatus.CANCELLED


class BadCoins(KofuError):
    code = "bad-coins"


def parse_coins(coins: Mapping[str, object]) -> dict[int, int]:
    """{"10": n, "50": n, "100": n, "500": n, "1000": n} → {denomination: count}; only those keys, counts ≥ 0."""
    out: dict[int, int] = {}
    for key, count in coins.items():
        try:
            value = int(key)
        except (TypeError, ValueError):
            value = -1
        if value not in DENOMINATIONS or str(value) != str(key):
            raise BadCoins(
                f"unknown denomination {key!r}; accepted: {', '.join(map(str, DENOMINATIONS))}",
                f"受け付けられない金種です: {key}",
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or count > MAX_COINS_PER_CALL:
            raise BadCoins(f"coin count for {key} must be an integer 0…{MAX_COINS_PER_CALL}", "枚数が不正です。")
        out[value] = out.get(value, 0) + count
    return out


def coin_total(coins: Mapping[int, int]) -> int:
    return sum(d * n for d, n in coins.items())


def due(total: int, paid: int) -> int:
    return max(total - paid, 0)


def change(total: int, paid: int) -> int:
    return max(paid - total, 0)


def change_coins(amount: int) -> dict[int, int]:
    """The fewest coins/notes for `amount` yen (greedy is optimal for yen denominations)."""
    if amount < 0 or amount % 10:
        raise ValueError(f"change must be a non-negative multiple of 10 yen, got {amount}")
    out: dict[int, int] = {}
    for d in sorted(DENOMINATIONS, reverse=True):
        n, amount = divmod(amount, d)
        if n:
            out[d] = n
    return out


def is_stale(last_progress: datetime, now: datetime, limit: timedelta) -> bool:
    return now - last_progress >= limit
