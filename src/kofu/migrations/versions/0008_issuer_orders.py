"""issuer orders: an order voided by order id refuses a late issue

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 02:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuer_orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_issuer_orders")),
    )


def downgrade() -> None:
    op.drop_table("issuer_orders")
