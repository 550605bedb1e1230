"""Operations: request ids, structured JSON logs, Prometheus metrics and health for every HTTP service.

    instrument(app, "center")      # X-Request-ID in and out, one JSON log line per request, /metrics
    configure_logging("center")    # JSON lines on stderr (done by `kofu serve …`)
    current_request_id()           # the id of the request this code runs for (clients forward it)

See docs/reliability.md (Operations).
"""

from kofu.ops.context import REQUEST_ID_HEADER, current_request_id, new_request_id, valid_request_id
from kofu.ops.http import CLIENT_KEEP_ALIVE_SECONDS, KEEP_ALIVE_SECONDS, instrument
from kofu.ops.logs import JsonFormatter, configure_logging

__all__ = [
    "CLIENT_KEEP_ALIVE_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "instrument",
    "new_request_id",
    "valid_request_id",
]
