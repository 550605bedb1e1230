"""A many-tenant world on PostgreSQL for the in-process reliability tests: N municipalities (always open),
residents with distinct names and cards, a center whose issuer gateway adds random delays and timeouts."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from kofu.center.gateway import InProcessGateway
from kofu.center.service import CenterService
from kofu.common.clock import JST, FixedClock
from kofu.common.lgcode import with_check_digit
from kofu.db import create_engine_for, metadata
from kofu.issuer.client import IssuerUnavailable
from kofu.issuer.documents import IssuedDocument
from kofu.issuer.service import IssuerService
from kofu.issuer.tenant import TenantDirectory
from kofu.issuer.window import IssuedCard, WindowService
from kofu.jpki import Authority, in_process_validator
from kofu.registry.model import Household, Resident
from kofu.registry.store import RegistryStore
from kofu.registry.validate import with_my_number_check_digit
from tests.conftest import POSTGRES_URL, _load_tables, _postgres_admin
from tests.e2e.test_processes import ALWAYS_OPEN
from tests.issuer.factories import resident

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=JST)  # a Wednesday
# 団体コード-shaped codes (5 digits + check digit); the first is 加東市 as in the other tests
CODES = ["282286", *(with_check_digit(f"28{300 + i:03d}") for i in range(30))]
FAMILY = (
    "青木 石井 上田 江口 大野 加藤 木村 工藤 小島 佐藤 清水 須田 関口 高橋 千葉 "
    "辻 寺田 中村 西田 野口 橋本 平野 福田 星野 松本 宮本 森田 山口 吉田 渡辺 和田"
)
GIVEN = "あかり 一郎 詠美 翔太 健二 咲 大輔 千尋 翼 直子 隼人 陽菜 湊 恵 結衣 蓮 和也 美月 悠真 玲奈"


def postgres_schema() -> Iterator[Engine]:
    """A fresh PostgreSQL schema with every actor's tables."""
    admin = _postgres_admin()
    schema = f"relw_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine_for(
        POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=40, max_overflow=40
    )
    _load_tables()
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class FlakyIssuer:
    """The issuer gateway with faults: a random delay before every call; `issue` sometimes times out
    before reaching the issuer, and sometimes after the issuer committed (the answer is lost)."""

    def __init__(self, inner: InProcessGateway, *, seed: int, p_timeout: float, max_delay: float) -> None:
        self.inner = inner
        self.p_timeout = p_timeout
        self.max_delay = max_delay
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = {"before": 0, "after": 0}
        self.lost: set[str] = set()  # orders whose issuance committed but whose answer was lost

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _delay(self) -> None:
        time.sleep(self._draw() * self.max_delay)

    def identify(self, **kw: Any) -> Any:
        self._delay()
        return self.inner.identify(**kw)

    def menu(self, *a: Any, **kw: Any) -> Any:
        self._delay()
        return self.inner.menu(*a, **kw)

    def admit(self, **kw: Any) -> Any:
        self._delay()
        return self.inner.admit(**kw)

    def quote(self, *a: Any, **kw: Any) -> Any:
        self._delay()
        return self.inner.quote(*a, **kw)

    def issue(self, *a: Any, **kw: Any) -> IssuedDocument:
        self._delay()
        roll = self._draw()
        if roll < self.p_timeout:
            with self._lock:
                self.injected["before"] += 1
            raise IssuerUnavailable("injected: timeout before the issuer", "（試験）タイムアウト")
        issued = self.inner.issue(*a, **kw)
        if roll < 2 * self.p_timeout:
            with self._lock:
                self.injected["after"] += 1
                self.lost.add(str(kw.get("order_id")))
            raise IssuerUnavailable("injected: the answer was lost", "（試験）応答喪失")
        return issued

    def void(self, *a: Any, **kw: Any) -> None:
        self._delay()
        self.inner.void(*a, **kw)

    def void_order(self, *a: Any, **kw: Any) -> list[tuple[str, int]]:
        self._delay()
        return self.inner.void_order(*a, **kw)


@dataclass
class Town:
    engine: Engine
    clock: FixedClock
    tenants: TenantDirectory
    issuer: IssuerService
    authority: Authority
    window: WindowService
    people: dict[str, Resident]  # by cert serial of their card
    cards: dict[str, IssuedCard]  # by "tenant/resident_id"
    residents: list[Resident] = field(default_factory=list)

    def center(self, gateway: Any) -> CenterService:
        return CenterService(self.engine, gateway, in_process_validator(self.authority), self.clock)


def write_tenants(home: Path, tenants: int) -> list[str]:
    """`tenants` always-open municipalities 試験0市, 試験1市 … as TOML files under home/tenants; their codes."""
    assert tenants <= len(CODES)
    codes = CODES[:tenants]
    (home / "tenants").mkdir(parents=True)
    for i, code in enumerate(codes):
        toml = ALWAYS_OPEN.replace('code = "282286"', f'code = "{code}"').replace(
            'name = "加東市"', f'name = "試験{i}市"'
        )
        (home / "tenants" / f"{code}.toml").write_text(toml, encoding="utf-8")
    return codes


def insert_residents(conn: Connection, t: int, code: str, residents_each: int) -> list[Resident]:
    """Residents R0, R1 … of municipality number `t`, each the head of a household of their own, with names,
    addresses and 個人番号 distinct across municipalities (a crossed document shows in its text)."""
    assert residents_each <= len(GIVEN.split())
    family, given = FAMILY.split(), GIVEN.split()
    reg = RegistryStore(conn)
    people = []
    for i in range(residents_each):
        person = replace(
            resident(),
            tenant=code,
            resident_id=f"R{i}",
            household_id=f"H{i}",
            name=f"{family[t]}　{given[i]}",
            kana=f"てすと　{i}",
            hittosha=f"{family[t]}　{given[i]}",
            relationship="世帯主",
            address=f"兵庫県試験{t}市{i + 1}番地",
            honseki=f"兵庫県試験{t}市{i + 1}番地",
            my_number=with_my_number_check_digit(f"5{t:05d}{i:05d}"),
            birth_date=date(1950 + i, 1 + t % 12, 1 + i),
        )
        reg.insert_household(Household(code, f"H{i}", f"R{i}", person.address))
        reg.insert_resident(person)
        people.append(person)
    return people


def build_town(engine: Engine, home: Path, *, tenants: int, residents_each: int) -> Town:
    codes = write_tenants(home, tenants)
    clock = FixedClock(NOW)
    directory = TenantDirectory(home / "tenants")
    issuer = IssuerService(engine, directory, home / "keys", clock, public_url="https://kofu.example/")
    authority = Authority(engine, home / "jpki", clock)
    window = WindowService(engine, authority, clock, cards_dir=home / "cards", master_key=b"k" * 32)
    town = Town(engine, clock, directory, issuer, authority, window, {}, {})
    for t, code in enumerate(codes):
        issuer.ensure_keys(directory.get(code))
        with engine.begin() as conn:
            town.residents += insert_residents(conn, t, code, residents_each)
        for i in range(residents_each):
            card = window.issue_card(code, f"R{i}", auth_pin="1234", sign_password="ABC123", usable_from=NOW.date())
            town.cards[f"{code}/R{i}"] = card
    return town
