"""Test-only fault injection: stop a process at an exact step of a transaction.

`KOFU_FAULT=<service>:<step>:kill` makes `fault_point(service, step)` send SIGKILL to its own process when
that step is reached — `kill -9` at a chosen instant, for the crash tests (tests/reliability/test_crash.py).
Several faults may be given, separated by commas. The variable is read only when it is set; unset (every
real deployment) the call is a dictionary look-up and nothing else. Never set it in production.

Steps: `center:after-payment` (the payment committed), `center:after-document-creation` (the issuer's answer
arrived, not yet recorded), `center:before-print-result` (the kiosk's print result arrived, not yet
recorded), `issuer:after-document-creation` (the issuance committed, its answer not yet sent),
`kiosk:mid-print` (a kiosk's power lost with the certificate in hand, before the printer ran).
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "KOFU_FAULT"


def fault_point(service: str, step: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    if f"{service}:{step}:kill" in (s.strip() for s in spec.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
