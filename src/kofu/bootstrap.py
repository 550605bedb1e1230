"""The one composition root: reads settings, builds the engine, migrates, wires services.

Everything that needs a database, a key or a clock gets it from here; nothing else reads the
environment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from kofu.common.clock import Clock, SystemClock
from kofu.db import create_engine_for

if TYPE_CHECKING:
    from kofu.issuer.service import IssuerService
    from kofu.issuer.tenant import TenantDirectory
    from kofu.issuer.window import WindowService
    from kofu.jpki import Authority
    from kofu.verify.service import Verifier


class Settings(BaseSettings):
    """`KOFU_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="KOFU_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="data directory (KOFU_HOME)")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in KOFU_HOME")
    tenants_dir: Path | None = Field(default=None, description="tenant TOML files; default KOFU_HOME/tenants")
    public_url: str = Field(default="http://127.0.0.1:8000", description="base URL printed on certificates")
    reports_staff: str | None = Field(
        default=None, description="staff login of /reports/: USER:scrypt$… (python -m kofu.reports.staff USER)"
    )
    jpki_url: str | None = Field(
        default=None, description="JPKI CRL/OCSP URL in certificates; default PUBLIC_URL/jpki (the one-process app)"
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kofu.sqlite3').resolve()}"

    def resolved_jpki_url(self) -> str:
        return self.jpki_url or f"{self.public_url.rstrip('/')}/jpki"

    def resolved_tenants_dir(self) -> Path:
        return self.tenants_dir or (self.home / "tenants")

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def cards_dir(self) -> Path:
        return self.home / "cards"


class Container:
    """Lazily built adapters for one process."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def engine(self) -> Engine:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine_for(self.settings.resolved_database_url())
        from kofu.migrations import upgrade_to_head

        upgrade_to_head(engine)
        return engine

    @cached_property
    def tenants(self) -> TenantDirectory:
        from kofu.issuer.tenant import TenantDirectory

        return TenantDirectory(self.settings.resolved_tenants_dir())

    @cached_property
    def issuer(self) -> IssuerService:
        from kofu.issuer.service import IssuerService

        return IssuerService(
            self.engine, self.tenants, self.settings.keys_dir, self.clock, public_url=self.settings.public_url
        )

    @cached_property
    def verifier(self) -> Verifier:
        from kofu.verify.service import Verifier

        return Verifier(self.engine, self.tenants, self.settings.keys_dir)

    @cached_property
    def authority(self) -> Authority:
        """The JPKI authority of this deployment: CA keys in KOFU_HOME/keys/jpki, records in the database."""
        from kofu.jpki import Authority

        return Authority(
            self.engine, self.settings.keys_dir / "jpki", self.clock, base_url=self.settings.resolved_jpki_url()
        )

    @cached_property
    def window(self) -> WindowService:
        from kofu.card.cardfile import default_master_key
        from kofu.issuer.window import WindowService

        return WindowService(
            self.engine,
            self.authority,
            self.clock,
            cards_dir=self.settings.cards_dir,
            master_key=default_master_key(self.settings.keys_dir),
        )
