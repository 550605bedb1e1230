"""The vpcd bridge against a stand-in vpcd (a local TCP server speaking the framing), and `kofu card show`."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from typer.testing import CliRunner

from kofu.card.chip import ATR, JPKI_AID, Card
from kofu.card.vpcd import VpcdBridge
from kofu.cli.card import app
from tests.card.conftest import MASTER
from tests.card.helpers import AUTH_PIN, HOLDER, USER_ID


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def _recv(conn: socket.socket) -> bytes:
    header = b""
    while len(header) < 2:
        header += conn.recv(2 - len(header))
    size = int.from_bytes(header, "big")
    body = b""
    while len(body) < size:
        body += conn.recv(size - len(body))
    return body


def _accept(server: socket.socket) -> socket.socket:
    conn, _ = server.accept()
    conn.settimeout(10)
    return conn


def test_bridge_speaks_the_vpcd_protocol_and_reconnects(card: Card) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(10)
        bridge = VpcdBridge(card, port=server.getsockname()[1], retry_delay=0.05).start()
        try:
            conn = _accept(server)
            conn.sendall(_frame(b"\x04"))
            assert _recv(conn) == ATR
            conn.sendall(_frame(b"\x01"))
            conn.sendall(_frame(bytes.fromhex("00A4040C0A") + JPKI_AID))
            assert _recv(conn) == b"\x90\x00"
            conn.sendall(_frame(bytes.fromhex("00A4020C020018")))
            assert _recv(conn) == b"\x90\x00"
            conn.sendall(_frame(bytes.fromhex("0020008004") + AUTH_PIN.encode()))
            assert _recv(conn) == b"\x90\x00"
            conn.sendall(_frame(b"\x02"))  # reset: the PIN is no longer verified
            conn.sendall(_frame(bytes.fromhex("00A4040C0A") + JPKI_AID))
            assert _recv(conn) == b"\x90\x00"
            conn.sendall(_frame(bytes.fromhex("00A4020C020017")))
            assert _recv(conn) == b"\x90\x00"
            conn.sendall(_frame(bytes.fromhex("802A00800100" + "00")))
            assert _recv(conn) == b"\x69\x82"
            conn.close()  # pcscd went away: the bridge comes back
            conn = _accept(server)
            conn.sendall(_frame(b"\x04"))
            assert _recv(conn) == ATR
            conn.sendall(_frame(b"\x00"))
            deadline = time.monotonic() + 10
            while bridge.stats.power_offs == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            conn.close()
        finally:
            bridge.stop()
        assert bridge.stats.connections == 2
        assert bridge.stats.apdus == 6
        assert (bridge.stats.power_ons, bridge.stats.resets, bridge.stats.power_offs) == (1, 1, 1)


def test_show_prints_no_personal_data(card_path: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(MASTER.hex())
    result = CliRunner().invoke(app, ["show", str(card_path), "--master-key", str(key_file), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["personalisation_locked"] is True
    assert info["pins"]["auth"] == {"tries_left": 3, "max_tries": 3, "blocked": False}
    assert set(info["certificates"]) == {"auth", "sign"}
    text = CliRunner().invoke(app, ["show", str(card_path), "--master-key", str(key_file)]).output
    for value in (HOLDER.name, HOLDER.address, HOLDER.my_number, USER_ID, AUTH_PIN):
        assert value not in result.output and value not in text
    assert "auth PIN: 3/3 tries left" in text


def test_show_refuses_a_tampered_file(card_path: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(MASTER.hex())
    doc = json.loads(card_path.read_text())
    doc["pin_tries_left"]["auth"] = 3 if doc["pin_tries_left"]["auth"] != 3 else 2
    card_path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["show", str(card_path), "--master-key", str(key_file)])
    assert result.exit_code == 2
    assert "tampered" in result.output
