"""Errors that reach a person carry a stable code and a message in Japanese and English."""

from __future__ import annotations


class KofuError(Exception):
    """Base of all expected failures. `code` is stable and machine-readable."""

    code: str = "error"

    def __init__(self, message_en: str, message_ja: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_ja = message_ja or message_en
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        if self.message_ja != self.message_en:
            return f"{self.message_ja} / {self.message_en}"
        return self.message_en


class NotFound(KofuError):
    code = "not-found"


class InvalidInput(KofuError):
    code = "invalid-input"


class Conflict(KofuError):
    code = "conflict"
