"""The load of the crossed-documents runs, as its own process (the GIL caps one): headless kiosks
(`kofu.kiosk.flow`, one thread each) talking HTTPS to the `kofu serve center` processes, with random
pauses before every call, printer jams and printing slower than the center's order timeout. Every printed
document is checked at once against the card that asked for it (`checks.document_problems`: the issuer's
record behind its statement, the name in its text, the QR code on a sample) and then deleted; one JSON
line per visit goes to the results file.

    python -m tests.reliability.kiosks CONFIG.json

`mode: "pair"` runs two kiosks (two stores) whose `documents` calls are sent together by `PairSender`,
one round after another; the send instant of each call is recorded, so the test reports the skew achieved.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kofu.bench.e2e import FLOAT
from kofu.card.cardfile import CardFile
from kofu.card.readers import InProcessReader
from kofu.center import protocol as wire
from kofu.center.client import CenterClient
from kofu.db import create_engine_for
from kofu.kiosk.devices import CardSlot, CoinVendor, Printer, PrinterFault, ReceiptPrinter, Speaker
from kofu.kiosk.flow import Devices, Kiosk, KioskResult, Script
from tests.reliability.checks import document_problems


@dataclass
class SlowPrinter(Printer):
    """A printer that takes `delay` seconds before it prints (longer than the center's order timeout)."""

    delay: float = 0.0

    def print_document(self, name: str, pdf: bytes, copies: int) -> list[Path]:
        time.sleep(self.delay)
        return super().print_document(name, pdf, copies)


class PausingCenter:
    """The kiosk's center client with a random pause (0…`think` s) before every call."""

    def __init__(self, inner: CenterClient, rng: random.Random, think: float) -> None:
        self.inner = inner
        self.kiosk_id = inner.kiosk_id
        self.rng = rng
        self.think = think

    def _pause(self) -> None:
        if self.think:
            time.sleep(self.rng.random() * self.think)

    def open_session(self) -> wire.SessionOpened:
        self._pause()
        return self.inner.open_session()

    def authenticate_jpki(self, session_id: str, certificate: bytes, signature: bytes) -> wire.Authenticated:
        self._pause()
        return self.inner.authenticate_jpki(session_id, certificate, signature)

    def authenticate_card_app(self, session_id: str, user_id: str) -> wire.Authenticated:
        self._pause()
        return self.inner.authenticate_card_app(session_id, user_id)

    def order(self, session_id: str, type: str, **kw: Any) -> wire.OrderQuoted:
        self._pause()
        return self.inner.order(session_id, type, **kw)

    def pay(self, order_id: str, coins: dict[str, int]) -> wire.PaymentState:
        self._pause()
        return self.inner.pay(order_id, coins)

    def documents(self, order_id: str) -> wire.Delivery:
        self._pause()
        return self.inner.documents(order_id)

    def print_result(self, order_id: str, job_id: str, ok: bool, error: str | None = None) -> wire.OrderOutcome:
        self._pause()
        return self.inner.print_result(order_id, job_id, ok, error)

    def cancel(self, order_id: str) -> wire.OrderOutcome:
        self._pause()
        return self.inner.cancel(order_id)


class Worker:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.people: list[list[str]] = cfg["people"]
        self.master_key = bytes.fromhex(cfg["master_key"])
        self.out = Path(cfg["out"])
        self.engine: Engine = create_engine_for(cfg["db_url"], pool_size=2, max_overflow=0, pool_timeout=600)
        self.lock = threading.Lock()
        self.results = Path(cfg["results"])
        self.checked = 0

    def client(self, center: str, kiosk_id: str, secret: str) -> CenterClient:
        import ssl

        return CenterClient(
            center, kiosk_id, secret, verify=ssl.create_default_context(cafile=self.cfg["ca"]), timeout=120
        )

    def reader(self, person: list[str]) -> InProcessReader:
        card = CardFile(Path(person[3]), self.master_key).load()
        card.attach_store(None)  # PIN counters stay on the chip copy: the card file is shared by kiosks
        return InProcessReader(card)

    def visit(self, center: PausingCenter, person: list[str], rng: random.Random, where: Path) -> dict[str, Any]:
        jam = rng.random() < self.cfg["p_jam"]
        slow = not jam and rng.random() < self.cfg["p_slow_print"]
        printer: Printer = (
            SlowPrinter(where / "tray", delay=self.cfg["slow_print_s"])
            if slow
            else Printer(where / "tray", fault=PrinterFault.JAM if jam else None)
        )
        devices = Devices(CardSlot(), CoinVendor(FLOAT), printer, Speaker(), ReceiptPrinter(where / "receipts"))
        script = Script(card=self.reader(person), pins=["1234"], type="juminhyo", coins=[100, 100, 100], reminders=0)
        record: dict[str, Any] = {"kiosk": center.kiosk_id, "tenant": person[0], "resident": person[1]}
        record |= {"jam": jam, "slow": slow}
        try:
            result = Kiosk(center, devices).run(script)  # type: ignore[arg-type]
        except Exception as exc:  # not an answer the flow knows: counted, the run goes on
            record |= {"status": "exception", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
            return record
        record |= self.check(result, person)
        for f in where.rglob("*"):
            if f.is_file() and not record["problems"]:
                f.unlink()
        return record

    def check(self, result: KioskResult, person: list[str]) -> dict[str, Any]:
        problems: list[str] = []
        qr = False
        if result.files:
            with self.lock:
                self.checked += 1
                qr = self.checked % self.cfg["qr_every"] == 1
            with self.engine.connect() as conn:
                for name in result.files:
                    problems += document_problems(
                        conn,
                        Path(name).read_bytes(),
                        resident_id=person[1],
                        name=person[2],
                        order_id=str(result.order_id),
                        tenant=person[0],
                        qr=qr,
                    )
        return {
            "status": result.status,
            "ok": result.ok,
            "order": result.order_id,
            "refusal": result.refusal,
            "paid": result.paid,
            "change": result.change,
            "refund": result.refund,
            "total": result.total,
            "printed": len(result.files),
            "qr": qr,
            "problems": problems,
        }

    def stopped(self) -> bool:
        """The test ran out of time (it creates the stop file): no new visit starts."""
        return Path(self.cfg["stop"]).exists()

    def write(self, record: dict[str, Any]) -> None:
        with self.lock, self.results.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")

    # ---- crossed documents: many kiosks, random residents ----

    def crossed(self) -> None:
        threads = [
            threading.Thread(target=self.kiosk_loop, args=(k,), name=f"kiosk-{k[0]}", daemon=True)
            for k in self.cfg["kiosks"]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def kiosk_loop(self, k: list[Any]) -> None:
        kid, secret, center_index, runs = k
        rng = random.Random(f"{self.cfg['seed']}-{kid}")
        with self.client(self.cfg["centers"][center_index], kid, secret) as client:
            center = PausingCenter(client, rng, self.cfg["think"])
            for r in range(runs):
                if self.stopped():
                    break
                person = rng.choice(self.people)
                try:
                    record = self.visit(center, person, rng, self.out / kid / str(r))
                except Exception:  # the checks themselves failed: a finding, keep going
                    record = {"kiosk": kid, "status": "exception", "ok": False, "error": traceback.format_exc()[-300:]}
                self.write(record)

    # ---- two requests within a millisecond ----

    def pair(self) -> None:
        """Two kiosks (threads), each through its whole flow; their `documents` calls meet in `PairSender`."""
        cfg = self.cfg
        sender = PairSender(self.cfg, self.stopped)
        try:
            threads = [
                threading.Thread(target=self.pair_loop, args=(k, sender), name=f"pair-{k}", daemon=True)
                for k in range(2)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sender.close()
        assert len(cfg["pairs"][0]) == len(cfg["pairs"][1])

    def pair_loop(self, k: int, sender: PairSender) -> None:
        kid, secret = self.cfg["pair_kiosks"][k]
        clients = [self.client(url, kid, secret) for url in self.cfg["centers"]]
        rng = random.Random(f"{self.cfg['seed']}-{kid}")
        try:
            for r, (person_index, center_index) in enumerate(self.cfg["pairs"][k]):
                center = PausingCenter(clients[center_index], rng, 0.0)
                box: dict[str, int] = {}

                def documents(order_id: str, c: int = center_index, box: dict[str, int] = box) -> wire.Delivery:
                    return sender.documents(k, c, clients[c], order_id, box)  # box["sent_ns"]: when it left

                center.documents = documents  # type: ignore[method-assign]
                person = self.people[person_index]
                try:
                    record = self.visit(center, person, rng, self.out / kid / str(r))
                finally:
                    if "sent_ns" not in box:
                        sender.skip(k)  # did not get as far: the other kiosk of this round goes alone
                record |= {"round": r, "released_ns": box.get("sent_ns"), "center": center_index}
                self.write(record)
                if sender.stop:
                    break
        finally:
            for c in clients:
                c.close()


class _Failed(Exception):
    def __init__(self, error: Exception, sent_ns: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent_ns = sent_ns


class PairSender:
    """Sends the `documents` calls of the two kiosks of a round together: when both have asked (or one has
    given up), both requests are built first and then sent from one event loop in one go, so they leave
    this process microseconds apart — threads of two processes on a busy machine are scheduled milliseconds
    apart. Each call's send instant (monotonic ns) is returned with its answer."""

    def __init__(self, cfg: dict[str, Any], stopped: Callable[[], bool]) -> None:
        import asyncio
        import ssl

        import httpx

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pair-sender", daemon=True)
        self.thread.start()
        self.cond = threading.Condition()
        self.generation = 0
        self.stopped = stopped
        self.stop = False  # decided once per round, when both kiosks are in: both stop after the same round
        self.slots: dict[int, tuple[int, CenterClient, str, Future[tuple[wire.Delivery, int]]] | None] = {}
        ctx = ssl.create_default_context(cafile=cfg["ca"])

        async def make() -> dict[tuple[int, int], httpx.AsyncClient]:
            out = {}
            for k, (kid, secret) in enumerate(cfg["pair_kiosks"]):
                for c, url in enumerate(cfg["centers"]):
                    headers = {"X-Kiosk-Id": kid, "Authorization": f"Bearer {secret}"}
                    out[k, c] = httpx.AsyncClient(base_url=url, headers=headers, verify=ctx, timeout=120)
            return out

        self.clients = asyncio.run_coroutine_threadsafe(make(), self.loop).result()

    def documents(self, k: int, c: int, sync: CenterClient, order_id: str, box: dict[str, int]) -> wire.Delivery:
        """This kiosk's call in the current round; `box["sent_ns"]` is set when it is sent (also when the
        answer is an error, so the round is never taken part in twice)."""
        fut: Future[tuple[wire.Delivery, int]] = Future()
        box["sent_ns"] = 0
        self._arrive(k, (c, sync, order_id, fut))
        try:
            delivery, box["sent_ns"] = fut.result()
        except _Failed as failed:
            box["sent_ns"] = failed.sent_ns
            raise failed.error from None
        return delivery

    def skip(self, k: int) -> None:
        self._arrive(k, None)

    def _arrive(self, k: int, slot: tuple[int, CenterClient, str, Future[tuple[wire.Delivery, int]]] | None) -> None:
        """Takes this kiosk's part in the current round; returns once the round is complete (both arrived)."""
        import asyncio

        with self.cond:
            assert k not in self.slots
            self.slots[k] = slot
            if len(self.slots) < 2:
                generation = self.generation
                if not self.cond.wait_for(lambda: self.generation != generation, timeout=600):
                    raise TimeoutError("the other kiosk of the pair did not come")
                return
            slots, self.slots = self.slots, {}
            self.stop = self.stopped()
            self.generation += 1
            self.cond.notify_all()
        asyncio.run_coroutine_threadsafe(self._send(slots), self.loop)

    async def _send(
        self, slots: dict[int, tuple[int, CenterClient, str, Future[tuple[wire.Delivery, int]]] | None]
    ) -> None:
        import asyncio

        from kofu.ops import REQUEST_ID_HEADER

        ready = []
        for k, slot in sorted(slots.items()):
            if slot is None:
                continue
            c, sync, order_id, fut = slot
            client = self.clients[k, c]
            headers = {"Idempotency-Key": uuid.uuid4().hex, REQUEST_ID_HEADER: sync.request_id}
            request = client.build_request("POST", f"/v1/orders/{order_id}/documents", json={}, headers=headers)
            ready.append((client, request, sync, fut))

        async def one(client: Any, request: Any, sync: CenterClient, fut: Future[tuple[wire.Delivery, int]]) -> None:
            sent = time.perf_counter_ns()
            try:
                response = await client.send(request)
                fut.set_result((sync._answer(response, wire.Delivery), sent))
            except Exception as exc:  # the kiosk's flow sees it as it would see its own call fail
                fut.set_exception(_Failed(exc, sent))

        await asyncio.gather(*(one(*r) for r in ready))

    def close(self) -> None:
        import asyncio

        async def close_all() -> None:
            for client in self.clients.values():
                await client.aclose()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    worker = Worker(cfg)
    try:
        worker.pair() if cfg["mode"] == "pair" else worker.crossed()
    finally:
        worker.engine.dispose()


if __name__ == "__main__":
    main()
