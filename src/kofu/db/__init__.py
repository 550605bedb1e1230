"""Storage plumbing shared by the actors' stores: one MetaData, engines, migrations.

Each actor defines its own tables in its `store.py` on `metadata`; tables are prefixed by actor
(`registry_…`, `issuer_…`) so that a reader of the schema knows who owns what.
"""

from kofu.db.base import metadata
from kofu.db.engine import create_engine_for, is_postgres, is_sqlite

__all__ = ["create_engine_for", "is_postgres", "is_sqlite", "metadata"]
