"""Log output that is safe for a terminal.

Log lines carry text from servers and feeds (reason phrases, titles, error bodies). An
ESC in them can recolour, retitle or clear the terminal and BEL rings it; a newline can
forge a log line. Every control character is therefore shown as a visible escape
(`\\x1b`, `\\n`), and only the line breaks of a traceback stay real.
"""

from __future__ import annotations

import logging
from typing import TextIO

__all__ = ["TerminalSafeFormatter", "install", "printable"]

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals).
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in (*range(0x20), *range(0x7F, 0xA0))
}

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def printable(text: str) -> str:
    """`text` with every control character (newlines too) written as a visible escape."""
    return text.translate(_ESCAPES)


def _printable_lines(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))


class TerminalSafeFormatter(logging.Formatter):
    """A Formatter whose output holds no control character but a traceback's line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _printable_lines(super().formatStack(stack_info))


def install(stream: TextIO) -> logging.Handler:
    """Log to `stream` through the terminal-safe formatter; return the handler.

    Levels are the caller's to set; it removes the handler when it is done.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TerminalSafeFormatter(FORMAT, DATE_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler
