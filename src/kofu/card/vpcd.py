"""The vpcd bridge: puts a kofu `Card` into PC/SC through vsmartcard's virtual reader driver (vpcd).

pcscd loads vpcd (Debian `vsmartcard-vpcd`), which listens on TCP (127.0.0.1:35963 by default, the
`DEVICENAME /dev/null:0x8C7B` line of /etc/reader.conf.d/vpcd). The card side — this bridge — connects as a
client. Every frame is a 2-byte big-endian length and a payload; a 1-byte payload is a control from the
reader (`00` power off, `01` power on, `02` reset, `04` "send the ATR", which is answered with an ATR
frame); any longer payload is a command APDU, answered with one frame of response data + SW1SW2.

If the connection drops (pcscd restarted, not started yet) the card is powered down — like pulling it out —
and the bridge reconnects until `stop()`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kofu.card.chip import Card

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04


@dataclass
class BridgeStats:
    connections: int = 0
    apdus: int = 0
    power_ons: int = 0
    resets: int = 0
    power_offs: int = 0


class _Closed(Exception):
    pass


class VpcdBridge:
    """Serve `card` to vpcd at host:port until `stop()`; `on_event(name, stats)` sees connects and controls."""

    def __init__(
        self,
        card: Card,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        retry_delay: float = 0.5,
        on_event: Callable[[str, BridgeStats], None] | None = None,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.retry_delay = retry_delay
        self.on_event = on_event
        self.stats = BridgeStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> VpcdBridge:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="kofu-vpcd-bridge", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=2.0) as sock:
                    sock.settimeout(0.2)
                    self.stats.connections += 1
                    self.connected.set()
                    self._event("connected")
                    self._serve(sock)
            except (OSError, _Closed) as exc:
                log.debug("vpcd %s:%s: %s", self.host, self.port, exc)
            if self.connected.is_set():
                self.connected.clear()
                self.card.power_off()  # the reader went away: the card is out of the field
                self._event("disconnected")
            self._stop.wait(self.retry_delay)

    # ------------------------------------------------------------------ protocol

    def _event(self, name: str) -> None:
        if self.on_event is not None:
            self.on_event(name, self.stats)

    def _recv_exact(self, sock: socket.socket, n: int, *, idle_ok: bool) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            if self._stop.is_set():
                raise _Closed("stopped")
            try:
                chunk = sock.recv(n - len(buf))
            except TimeoutError:
                if idle_ok and not buf:
                    return None  # nothing pending: let the caller check for stop
                continue
            if not chunk:
                raise _Closed("vpcd closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(len(payload).to_bytes(2, "big") + payload)

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            header = self._recv_exact(sock, 2, idle_ok=True)
            if header is None:
                continue
            size = int.from_bytes(header, "big")
            payload = self._recv_exact(sock, size, idle_ok=False) if size else b""
            assert payload is not None
            if size == 1:
                self._control(sock, payload[0])
            elif size > 1:
                self.stats.apdus += 1
                self._send(sock, self.card.process(payload))

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_OFF:
            self.stats.power_offs += 1
            self.card.power_off()
            self._event("power-off")
        elif code == CTRL_ON:
            self.stats.power_ons += 1
            self.card.power_on()
            self._event("power-on")
        elif code == CTRL_RESET:
            self.stats.resets += 1
            self.card.reset()
            self._event("reset")
        elif code == CTRL_ATR:
            self._send(sock, self.card.atr)
        else:
            log.warning("vpcd: unknown control byte %02X ignored", code)
