"""`kofu kiosk run` with an in-process center over a KOFU_HOME built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kofu.bootstrap import Container, Settings
from kofu.cli import kiosk as kiosk_cli
from kofu.common.clock import FixedClock, today_jst
from kofu.registry.model import Household
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome
from tests.issuer.conftest import HEAD, NOW
from tests.issuer.factories import TENANT_TOML

T = "282286"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Container, Path]:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / f"{T}.toml").write_text(TENANT_TOML, encoding="utf-8")
    monkeypatch.delenv("KOFU_CARD_MASTER_KEY", raising=False)
    c = Container(Settings(home=tmp_path, database_url=None, tenants_dir=None), clock=FixedClock(NOW))
    c.issuer.ensure_keys(c.tenants.get(T))
    with c.engine.begin() as conn:
        reg = RegistryStore(conn)
        reg.insert_household(Household(T, "H1", "R1", HEAD.address))
        reg.insert_resident(HEAD)
    card = c.window.issue_card(T, "R1", auth_pin="1234", sign_password="ABC123", usable_from=today_jst(c.clock))
    monkeypatch.setattr(kiosk_cli, "container", lambda: c)
    return c, card.path


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(kiosk_cli.app, name="kiosk")
    return root


def test_run_prints_and_reports_one_json_line(home: tuple[Container, Path], tmp_path: Path) -> None:
    c, card = home
    out = tmp_path / "tray"
    args = ["kiosk", "run", "--card", str(card), "--pin", "1234", "--type", "juminhyo", "--pay", "100,100,100"]
    result = CliRunner().invoke(_cli(), [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["ok"] and data["change"] == 50 and data["refusal"] is None and data["tenant"] == T
    assert {"order_id", "number", "files", "paid", "total", "refund", "steps", "elapsed_ms"} <= set(data)
    assert c.verifier.verify_pdf(Path(data["files"][0]).read_bytes()).outcome is Outcome.VALID

    again = CliRunner().invoke(_cli(), [*args, "--out", str(out), "--printer-fault", "jam"])  # the same kiosk
    assert again.exit_code == 3, again.output
    assert "refunded 300 yen" in again.stderr

    poor = CliRunner().invoke(_cli(), [*args[:-1], "100", "--out", str(out), "--json"])
    assert poor.exit_code == 2 and json.loads(poor.stdout)["refusal"] == "insufficient-payment"

    wrong = CliRunner().invoke(_cli(), ["kiosk", "run", "--card", str(card), "--pin", "9999", "--type", "inkan",
                                         "--pay", "500", "--out", str(out)])  # fmt: skip
    assert wrong.exit_code == 4 and "残り2回" in wrong.stderr
