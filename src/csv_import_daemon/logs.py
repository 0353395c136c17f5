"""structlog set up once: JSON lines on stderr, a console renderer on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from csv_import_daemon.config.settings import LogFormat, LogLevel

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    log_format: LogFormat = "auto",
    level: LogLevel = "info",
    stream: TextIO | None = None,
    *,
    escape: Callable[[Any], Any] | None = None,
) -> None:
    """Route every event to stderr; stdout stays for command results.

    ``escape``: applied to the event's values before the console renderer (JSON escapes
    control characters itself), so file names and fields cannot drive the terminal."""
    out = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shown: list[Processor] = []
    if escape is not None and not use_json:
        shown.append(lambda _logger, _name, event: escape(event))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            *shown,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Alembic (migration steps, the backfill count) logs through the standard library:
    # render those records as the same structured events.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),  # e.g. the migration's backfilled count
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("csv_import_daemon").setLevel(_LEVELS[level])


def get_logger(name: str) -> FilteringBoundLogger:
    """A logger for module ``name``: a lazy proxy, so it may be taken at import time, before
    ``configure_logging`` ran; each call then goes through the configured level filter."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
