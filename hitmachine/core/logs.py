"""Structured JSON logs: one object per line, with a closed set of fields.

The fields are the request id, the actor (a token's or user's name, never a citizen),
the event, the outcome, the duration and the route template. A record's message is kept,
but the code never formats data into one (see ``hitmachine.http.api.problems``); extra fields
outside ``FIELDS`` are dropped, so a careless ``extra=`` cannot smuggle a body in.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

FIELDS = ("request_id", "actor", "role", "event", "outcome", "status", "method", "route",
          "request", "duration_ms")
ALERT_PREFIX = "alert_"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        for name, value in record.__dict__.items():
            if name.startswith(ALERT_PREFIX):  # an alert's counts and thresholds
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__  # the type only: no message, no data
        return json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))


def uvicorn_config(level: str = "INFO", access_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and our loggers: JSON to stderr."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "hitmachine.core.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["default"], "level": level, "propagate": False},
            # Our own request log replaces uvicorn's access lines (hitmachine.http.api.middleware).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "hitmachine": {"handlers": ["default"], "level": level, "propagate": False},
            "hitmachine.access": {"level": level if access_log else "WARNING"},
        },
    }


__all__ = ["JsonFormatter", "uvicorn_config"]
