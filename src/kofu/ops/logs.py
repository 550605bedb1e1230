"""Structured logs: one JSON object per line, with the service and the request id of the transaction.

Never log request bodies, documents or registry data: log lines carry ids (order, tenant, issuance
number, request id), codes and timings only. tests/reliability scans the logs for residents' names.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from kofu.ops.context import current_request_id, current_service

# LogRecord attributes that are not "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI copy of msg
}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": getattr(record, "service", None) or current_service() or self.service,
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(service: str, *, level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Route every log record of this process (kofu, uvicorn, …) to JSON lines on `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # kofu.http logs each request itself
    for chatty in ("httpx", "httpcore"):  # one line per outgoing call, with its full URL: not wanted
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
