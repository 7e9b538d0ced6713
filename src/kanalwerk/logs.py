"""Log output that is safe for a terminal.

Log lines carry text from servers and feeds (reason phrases, titles, error bodies). An
ESC in them can recolour, retitle or clear the terminal and BEL rings it; a newline can
forge a log line. Every control character is therefore shown as a visible escape
(`\\x1b`, `\\n`), and only the line breaks of a traceback stay real.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "JsonFormatter",
    "TerminalSafeFormatter",
    "configure",
    "fields",
    "install",
    "printable",
    "printable_lines",
]

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals).
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in (*range(0x20), *range(0x7F, 0xA0))
}

#: DEL and C1 controls, which JSON lets through unescaped.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def printable(text: str) -> str:
    """`text` with every control character (newlines too) written as a visible escape."""
    return text.translate(_ESCAPES)


def printable_lines(text: str) -> str:
    """`printable` for each line of `text`, keeping its line breaks."""
    return "\n".join(printable(line) for line in text.split("\n"))


class TerminalSafeFormatter(logging.Formatter):
    """A Formatter whose output holds no control character but a traceback's line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return printable_lines(super().formatStack(stack_info))


def fields(
    *, channel: str | None = None, event: str | None = None, outcome: str | None = None
) -> dict[str, Any]:
    """`extra=` for a log call, so `--log-format json` can name channel, event and outcome."""
    return {"kw_channel": channel, "kw_event": event, "kw_outcome": outcome}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, channel, event, outcome, message.

    `channel`, `event` and `outcome` come from `fields(...)` given as `extra=`; a line
    without them has `event` set to the logger's name and the others null. JSON escapes
    every control character, so lines stay safe for a terminal too.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "channel": getattr(record, "kw_channel", None),
            "event": getattr(record, "kw_event", None) or record.name,
            "outcome": getattr(record, "kw_outcome", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False).translate(_JSON_ESCAPES)


def configure(handler: logging.Handler, log_format: str) -> None:
    """Give `handler` the formatter of `log_format`: "text" or "json"."""
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TerminalSafeFormatter(FORMAT, DATE_FORMAT))


def install(stream: TextIO) -> logging.Handler:
    """Log to `stream` through the terminal-safe formatter; return the handler.

    Levels are the caller's to set; it removes the handler when it is done.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TerminalSafeFormatter(FORMAT, DATE_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler
