"""Alembic migrations, run programmatically at start-up (also `alembic -c src/kofu/migrations/alembic.ini`).

This package sits above every actor: it imports each actor's store so that `metadata` knows all tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def load_all_tables() -> None:
    """Import every actor's store; each defines its tables on `kofu.db.metadata`."""
    import kofu.center.store
    import kofu.issuer.audit
    import kofu.issuer.store
    import kofu.jpki.store
    import kofu.registry.store  # noqa: F401

    _issuance_day_index()


def _issuance_day_index() -> None:
    """Reports select a tenant's issuances by `issued_on` (`kofu.reports.figures`); migration 0007 adds
    this index. Declared here, where every store is loaded, until `kofu.issuer.store` declares it itself."""
    from sqlalchemy import Index

    from kofu.issuer.store import issuances

    if not any(ix.name == "ix_issuer_issuances_tenant_issued_on" for ix in issuances.indexes):
        Index("ix_issuer_issuances_tenant_issued_on", issuances.c.tenant, issuances.c.issued_on)


def upgrade_to_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")
