"""card links: the card AP's public key (カードAP方式: the center checks the card's own signature)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_card_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_app_public_key", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_card_links", schema=None) as batch_op:
        batch_op.drop_column("card_app_public_key")
