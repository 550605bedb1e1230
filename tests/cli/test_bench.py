"""`kofu bench e2e` as an operator runs it: a short run, its JSON read back and checked for sense."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kofu.cli.main import _register, app
from tests.conftest import POSTGRES_URL, _postgres_admin

runner = CliRunner()
_register()

STEPS = {"open_session", "authenticate", "order", "pay", "documents", "print_result"}


def check(doc: dict[str, object], kiosks: int) -> None:
    assert doc["kiosks"] == kiosks
    assert doc["failed"] == 0, doc["failures"]
    completed = doc["completed"]
    assert isinstance(completed, int) and completed >= 1
    rate, floor, seconds = doc["issuances_per_s"], doc["floor_per_s"], doc["seconds"]
    assert isinstance(rate, float) and isinstance(floor, float) and isinstance(seconds, float)
    assert abs(rate - completed / seconds) < 0.05 * rate + 0.01
    # The floor leaves out rendering, HTTP and most of the database work: it is the faster of the two.
    assert floor > rate > 0
    assert doc["ratio_to_floor"] == pytest.approx(rate / floor, abs=1e-3)
    steps = doc["steps"]
    assert isinstance(steps, dict) and set(steps) >= STEPS
    for name in STEPS:
        s = steps[name]
        assert s["n"] >= completed and 0 < s["p50"] <= s["p95"] <= s["p99"], (name, s)
    assert 0 < doc["p50_ms"] <= doc["p95_ms"] <= doc["p99_ms"]  # type: ignore[operator]
    # A whole customer takes longer than any one of its calls.
    assert doc["p50_ms"] >= max(steps[n]["p50"] for n in STEPS)  # type: ignore[operator]
    by_type = doc["by_type"]
    assert isinstance(by_type, dict) and sum(by_type.values()) == completed


@pytest.mark.slow
@pytest.mark.parametrize("transport", [None, "asgi"])
def test_in_process_run_reports_rates_latencies_floor_and_sessions(tmp_path: Path, transport: str | None) -> None:
    keep = tmp_path / "run"
    args = ["bench", "e2e", "--kiosks", "2", "--seconds", "3", "--floor-seconds", "0.5", "--sessions", "30"]
    args += ["--transport", transport] if transport else []
    result = runner.invoke(app, [*args, "--keep", str(keep), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output.strip().splitlines()[-1])
    assert doc["mode"] == "in-process" and doc["database"] == "sqlite"
    assert doc["transport"] == (transport or "direct")  # LocalCenter unless asked for the ASGI app
    check(doc, 2)
    assert set(doc["cpu_ms_per_issuance"]) == {"this_process"} and doc["server_cpu_ms_per_issuance"] == {}
    assert doc["floor"]["iterations"] >= 1 and doc["floor"]["pdf_bytes"] > 10_000
    s = doc["sessions"]
    assert s["sessions"] == 30 and s["db_bytes_per_session"] > 0
    per_session = max(s["heap_bytes_per_session"], 0) + s["db_bytes_per_session"]
    assert s["sessions_per_gib"] == pytest.approx((1 << 30) / per_session, rel=1e-3)
    assert s["fits_57000_in_1gib"] == (s["sessions_per_gib"] >= 57_000)
    # the tray is emptied as the paper leaves: no certificate is left behind on the disk
    assert not list((keep / "tray").glob("*.pdf"))


def test_processes_need_postgresql() -> None:
    result = runner.invoke(app, ["bench", "e2e", "--kiosks", "1", "--seconds", "1", "--processes", "2"])
    assert result.exit_code == 2
    assert "--database" in result.output and "PostgreSQL" in result.output


@pytest.mark.parametrize("extra", [["--transport", "h2"], ["--transport", "asgi", "--processes", "1"]])
def test_the_transport_is_direct_or_asgi_and_only_in_process(extra: list[str]) -> None:
    args = ["bench", "e2e", "--kiosks", "1", "--seconds", "1", "--database", POSTGRES_URL, *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--transport direct|asgi is for the in-process mode" in result.output


@pytest.mark.slow
@pytest.mark.postgres
def test_separate_processes_over_https_with_postgresql(tmp_path: Path) -> None:
    _postgres_admin().dispose()  # skips or fails clearly when PostgreSQL is not there
    # 8 s, not 3: a loaded machine (parallel test runs) once finished no customer over HTTPS in 3 s
    args = ["bench", "e2e", "--kiosks", "2", "--seconds", "8", "--floor-seconds", "0.5", "--processes", "1"]
    result = runner.invoke(app, [*args, "--database", POSTGRES_URL, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output.strip().splitlines()[-1])
    assert doc["mode"] == "processes=1" and doc["database"] == "postgresql" and doc["transport"] == "https"
    check(doc, 2)
    # the servers' CPU, and which process it went to: every role used some, and the parts add up
    by_role, total = doc["server_cpu_ms_per_issuance"], doc["cpu_ms_per_issuance"]["servers"]
    assert set(by_role) == {"jpki", "issuer", "center"}
    assert by_role["center"] > 0 and by_role["issuer"] > 0 and by_role["jpki"] >= 0
    assert sum(by_role.values()) == pytest.approx(total, abs=0.05)
    # and the local PostgreSQL server's processes, counted apart (every issuance writes to it)
    assert doc["cpu_ms_per_issuance"]["database"] > 0
