"""Structured logging: JSON lines on stdout (for journald) unless stdout is a terminal.

Libraries that log through the standard `logging` module (paho-mqtt on a broken connection,
asyncio, web3) and Python's warnings are carried into the same stream as `library_log` events, so
the output stays one JSON object per line even when the broker or the network fails.
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {"debug", "info", "warning", "error", "critical"}


class _ToStructlog(logging.Handler):
    """Re-emits a standard-library log record as a structlog event."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            method = getattr(structlog.get_logger(record.name), level if level in _LEVELS else "warning")
            extra = {"exc_info": record.exc_info} if record.exc_info else {}
            method("library_log", logger=record.name, message=record.getMessage(), **extra)
        except Exception:
            self.handleError(record)


def configure(level: str = "info", *, json: bool | None = None) -> None:
    as_json = (not sys.stdout.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToStructlog)] + [_ToStructlog()]
    root.setLevel(max(logging.WARNING, getattr(logging, level.upper())))  # libraries: warnings and up
    logging.captureWarnings(True)  # `warnings.warn` (a deprecation in a library) too
