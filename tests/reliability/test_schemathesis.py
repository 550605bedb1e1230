"""schemathesis against the center's and the issuer's OpenAPI: generated requests (valid and invalid)
with a real kiosk's credentials (center) or as the center (issuer, TLS client check done in-process),
on SQLite and PostgreSQL. Checks: no 5xx, every status code documented, every body matches its schema.
(schemathesis' pytest plugin is not used: its fixture loader does not run on this pytest; each operation
is driven through hypothesis directly.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from kofu.issuer.api import create_app as issuer_app
from tests.center.conftest import Rig, rig  # noqa: F401  (the fixture)
from tests.issuer.conftest import world  # noqa: F401  (the fixture)
from tests.reliability.conftest import size

pytestmark = [pytest.mark.reliability]

EXAMPLES = size(25, 300)


def failures_of(schema: Any, headers: dict[str, str]) -> tuple[int, list[str]]:
    """(requests sent, one line per failing operation with its first failure)."""
    sent = 0
    seen: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            nonlocal sent
            sent += 1
            try:
                case.call_and_validate(headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                label = case.operation.label
                seen.setdefault(label, f"{label}: {type(exc).__name__}: {str(exc)[:600]}")

        check()
    return sent, list(seen.values())


def test_center_api_holds_its_schema(rig: Rig) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", rig.app)
    sent, failures = failures_of(schema, {"X-Kiosk-Id": "K1", "Authorization": f"Bearer {rig.secrets['K1']}"})
    assert sent >= EXAMPLES * 5
    assert not failures, "\n".join(failures)


def test_issuer_api_holds_its_schema(rig: Rig) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", issuer_app(rig.world.issuer, client_cn=None))
    sent, failures = failures_of(schema, {})
    assert sent >= EXAMPLES * 4
    assert not failures, "\n".join(failures)
