"""jpki: issued certificates and CRL state of the JPKI authority

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:47:52.537082
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jpki_certificates",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_jpki_certificates")),
    )
    with op.batch_alter_table("jpki_certificates", schema=None) as batch_op:
        batch_op.create_index("ix_jpki_certificates_kind_status", ["kind", "status"], unique=False)

    op.create_table(
        "jpki_crls",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_jpki_crls")),
    )


def downgrade() -> None:
    op.drop_table("jpki_crls")
    with op.batch_alter_table("jpki_certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_jpki_certificates_kind_status")
    op.drop_table("jpki_certificates")
