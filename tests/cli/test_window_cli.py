"""The office's card commands, end to end through the CLI: issue, show, a death event, revocation."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kofu.cli.main import app

from .test_issue_verify_cli import home  # noqa: F401  (fixture)

runner = CliRunner()


def test_issue_card_then_death_revokes_it(home: Path) -> None:  # noqa: F811
    args = ["card", "issue", "--tenant", "282286", "--resident", "R2", "--pin", "1234", "--sign-password", "ABC123"]
    issued = runner.invoke(app, [*args, "--json"])
    assert issued.exit_code == 0, issued.output
    card = json.loads(issued.output)
    assert Path(card["card"]).exists()

    shown = runner.invoke(app, ["card", "show", card["card"]])
    assert shown.exit_code == 0, shown.output
    assert "加東" not in shown.output and "花子" not in shown.output  # no personal data in the summary

    status = runner.invoke(app, ["jpki", "show", card["auth_serial"], "--json"])
    assert status.exit_code == 0 and json.loads(status.output)["status"] == "good"

    events = home / "death.jsonl"
    events.write_text(
        json.dumps({"kind": "death", "resident_id": "R2", "effective_on": "2026-11-20", "notified_on": "2026-11-21"})
        + "\n",
        encoding="utf-8",
    )
    applied = runner.invoke(app, ["registry", "apply", "--tenant", "282286", str(events)])
    assert applied.exit_code == 0, applied.output
    assert "revoked 2 JPKI certificate(s)" in applied.output
    for serial in (card["auth_serial"], card["sign_serial"]):
        status = runner.invoke(app, ["jpki", "show", serial, "--json"])
        assert json.loads(status.output)["status"] == "revoked"

    again = runner.invoke(app, ["card", "revoke", card["auth_serial"], "--reason", "loss"])
    assert again.exit_code == 2 and "already revoked" in " ".join(again.output.split())


def test_card_for_unknown_resident_is_a_clear_error(home: Path) -> None:  # noqa: F811
    args = ["card", "issue", "--tenant", "282286", "--resident", "NOPE", "--pin", "1234", "--sign-password", "ABC123"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no resident NOPE" in result.output
