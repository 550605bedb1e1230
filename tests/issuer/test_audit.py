"""The issuer's audit log: an entry per issuance and per void in the same transaction, ids and hashes only,
and `kofu audit verify` naming an edited or deleted entry."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from kofu.cli import audit as audit_cli
from kofu.db.audit import chain_for
from kofu.issuer import audit
from kofu.issuer.audit import issuer_audit
from kofu.issuer.eligibility import IssueRequest
from kofu.issuer.service import NotEligible
from kofu.issuer.tenant import CertificateType, IssuanceKind

from .conftest import CHILD, GONE, HEAD, WIFE, World

T = "282286"


def entries(world: World) -> list[tuple[str, dict[str, object]]]:
    with world.engine.connect() as conn:
        rows = conn.execute(select(issuer_audit.c.kind, issuer_audit.c.data).order_by(issuer_audit.c.seq)).all()
    return [(str(kind), json.loads(data)) for kind, data in rows]


def busy_day(world: World) -> None:
    issuer = world.issuer
    a = issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO, IssuanceKind.HOUSEHOLD), order_id="O-1")
    issuer.issue(IssueRequest(T, "R1", CertificateType.INKAN, copies=2), channel="kiosk", order_id="O-2")
    issuer.issue(IssueRequest(T, "R1", CertificateType.SHOTOKU), order_id="O-3")
    issuer.issue(IssueRequest(T, "R2", CertificateType.KISAI, items=("address",)), order_id="O-4")
    issuer.void(T, a.record.number, reason="print-failed")


def test_issue_and_void_are_recorded_with_ids_and_hashes(world: World) -> None:
    issued = world.issuer.issue(
        IssueRequest(T, "R1", CertificateType.INKAN, copies=2), channel="kiosk", order_id="O-1", cert_serial=None
    )
    world.issuer.void(T, issued.record.number, reason="print-failed")
    world.issuer.void(T, issued.record.number, reason="print-failed")  # already void: nothing new happened
    r = issued.record
    assert entries(world) == [
        (
            "issued",
            {
                "tenant": T,
                "number": r.number,
                "type": "inkan",
                "copies": 2,
                "order_id": "O-1",
                "cert_serial": r.cert_serial,
                "document_hash": r.document_hash,
                "channel": "kiosk",
            },
        ),
        ("voided", {"tenant": T, "number": r.number, "reason": "print-failed"}),
    ]


def test_a_refusal_writes_no_entry(world: World) -> None:
    with pytest.raises(NotEligible):
        world.issuer.issue(IssueRequest(T, "R3", CertificateType.JUMINHYO))  # under 15
    assert entries(world) == []


def test_a_retried_order_records_the_void_of_the_first_issuance(world: World) -> None:
    request = IssueRequest(T, "R1", CertificateType.JUMINHYO)
    first = world.issuer.issue(request, order_id="O-9")
    second = world.issuer.issue(request, order_id="O-9")
    kinds = [(kind, data["number"], data.get("reason")) for kind, data in entries(world)]
    assert kinds == [
        ("issued", first.record.number, None),
        ("voided", first.record.number, "retried"),
        ("issued", second.record.number, None),
    ]


def test_a_render_failure_voids_and_the_void_is_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> bytes:
        raise RuntimeError("printer font missing")

    monkeypatch.setattr("kofu.issuer.service.produce", broken)
    with pytest.raises(RuntimeError):
        world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), order_id="O-5")
    assert [(k, d.get("reason")) for k, d in entries(world)] == [("issued", None), ("voided", "render-failed")]


def test_no_personal_data_in_the_log(world: World) -> None:
    busy_day(world)
    with world.engine.connect() as conn:
        text = "\n".join(
            f"{row.kind} {row.data}" for row in conn.execute(select(issuer_audit)).all()
        )  # everything stored
    assert text.count("issued") == 4
    for person in (HEAD, WIFE, CHILD, GONE):
        for value in (person.name, person.kana, person.address, person.honseki, person.previous_address):
            for part in (value or "").split("　"):
                assert not part or part not in text, part
        assert person.birth_date.isoformat() not in text
        if person.my_number:
            assert person.my_number not in text
    assert "加東" not in text and "社５０" not in text


def test_the_chain_verifies_and_names_an_edited_or_deleted_entry(world: World) -> None:
    busy_day(world)
    count, problems = audit.verify(world.engine)
    assert (count, problems) == (5, [])
    chain = chain_for(T, audit.TENANT_CHAINS)  # every entry of one municipality is on its own chain
    with world.engine.connect() as conn:
        assert set(conn.execute(select(issuer_audit.c.chain)).scalars()) == {chain}
    with world.engine.begin() as conn:
        conn.execute(update(issuer_audit).where(issuer_audit.c.seq == 2).values(data='{"copies":1}'))
    _, problems = audit.verify(world.engine)
    assert [str(p) for p in problems] == [f"chain {chain} entry 2: changed"]
    with world.engine.begin() as conn:
        conn.execute(delete(issuer_audit).where(issuer_audit.c.seq == 4))
    _, problems = audit.verify(world.engine)
    assert [str(p) for p in problems] == [
        f"chain {chain} entry 2: changed",
        f"chain {chain} entry 5: deleted-or-reordered",
    ]


def test_kofu_audit_verify(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_cli, "container", lambda: SimpleNamespace(engine=world.engine))
    busy_day(world)
    runner = CliRunner()
    ok = runner.invoke(audit_cli.app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "issuer: ok (5 entries)" in ok.output
    assert "center: ok (0 entries)" in ok.output  # the center's log exists and is empty here
    with world.engine.begin() as conn:
        conn.execute(update(issuer_audit).where(issuer_audit.c.seq == 3).values(kind="voided"))
    bad = runner.invoke(audit_cli.app, ["verify"])
    assert bad.exit_code == 1
    assert f"issuer: chain {chain_for(T, audit.TENANT_CHAINS)} entry 3: changed" in bad.output


def test_a_time_in_jst_still_verifies(world: World) -> None:
    """The center passes `at` in JST; the database hands times back in UTC — the chain must not care."""
    from .conftest import NOW

    issued = world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), at=NOW, order_id="O-1")
    world.issuer.issue(IssueRequest(T, "R1", CertificateType.JUMINHYO), at=NOW, order_id="O-1")  # retried
    assert audit.verify(world.engine) == (3, [])
    assert issued.record.issued_at.utcoffset() is not None
