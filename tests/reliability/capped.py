"""`kofu` with a capped database pool (test-only launcher): `python -m tests.reliability.capped serve center …`.

The many-process runs share one PostgreSQL (max_connections 100) with other test runs on this machine; with
SQLAlchemy's default pool (5 + 10 overflow) eight servers under load would take them all. Each server here
keeps at most `KOFU_TEST_POOL` connections (default 3) and waits for a free one instead of failing. Nothing
else of the server changes."""

from __future__ import annotations

import os
import sys
from typing import Any

import kofu.db.engine as engine_module

_create = getattr(engine_module, "sa_create_engine")  # noqa: B009  (not exported; the one being wrapped)


def _capped(url: Any, **kw: Any) -> Any:
    if not str(url).startswith("sqlite"):
        cap = int(os.environ.get("KOFU_TEST_POOL", "3"))
        kw.setdefault("pool_size", cap)
        kw.setdefault("max_overflow", 0)
        kw.setdefault("pool_timeout", 600)
    return _create(url, **kw)


def main() -> None:
    setattr(engine_module, "sa_create_engine", _capped)  # noqa: B010
    from kofu.cli.main import main as kofu_main

    sys.argv[0] = "kofu"
    kofu_main()


if __name__ == "__main__":
    main()
