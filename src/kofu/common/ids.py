"""Identifiers: random, URL-safe, never derived from personal data."""

from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def new_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)
