"""The request id of the transaction this code runs for (a context variable, so threads of the
threadpool that runs sync endpoints see the id of their own request)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_request_id: ContextVar[str | None] = ContextVar("kofu_request_id", default=None)
_service: ContextVar[str | None] = ContextVar("kofu_service", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: str | None) -> bool:
    """Only short ASCII tokens are taken from a caller (no free text — it lands in every log line)."""
    return value is not None and _VALID.fullmatch(value) is not None


def current_request_id() -> str | None:
    return _request_id.get()


def current_service() -> str | None:
    return _service.get()


def bind(request_id: str | None, service: str | None = None) -> tuple[object, object]:
    """Sets the ids for the current context; returns tokens for `unbind`."""
    return _request_id.set(request_id), _service.set(service if service is not None else _service.get())


def unbind(tokens: tuple[object, object]) -> None:
    rid, svc = tokens
    _request_id.reset(rid)  # type: ignore[arg-type]
    _service.reset(svc)  # type: ignore[arg-type]
