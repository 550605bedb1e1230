"""audit logs in several hash chains; issuer_issuances indexed by (tenant, issued_on)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 02:40:00

`center_audit` and `issuer_audit` get a `chain` column and the primary key `(chain, seq)`: every existing
entry becomes chain 0, whose entries hash exactly what they hashed before, so an existing log still
verifies (see `kofu.db.audit`). Reports filter issuances by tenant and issue date.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

AUDIT_TABLES = ("center_audit", "issuer_audit")


def upgrade() -> None:
    for table in AUDIT_TABLES:
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.add_column(sa.Column("chain", sa.Integer(), server_default=sa.text("0"), nullable=False))
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["chain", "seq"])
    with op.batch_alter_table("issuer_issuances", schema=None) as batch_op:
        batch_op.create_index("ix_issuer_issuances_tenant_issued_on", ["tenant", "issued_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("issuer_issuances", schema=None) as batch_op:
        batch_op.drop_index("ix_issuer_issuances_tenant_issued_on")
    for table in AUDIT_TABLES:
        # only chain 0 fits the old one-chain table: the other chains' entries cannot be kept
        op.execute(sa.text(f"DELETE FROM {table} WHERE chain <> 0"))
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["seq"])
            batch_op.drop_column("chain")
