"""Nothing a server sends reaches the terminal as a control character."""

from __future__ import annotations

import logging
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kanalwerk.cli import main
from kanalwerk.logs import TerminalSafeFormatter, printable

#: ESC (clear the screen) and BEL in a reason phrase; h11 lets both through.
HOSTILE_STATUS_LINE = b"HTTP/1.1 503 Slow\x1b[2J\x07 down\r\n"


class _Reply(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(
            HOSTILE_STATUS_LINE + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )


@pytest.fixture
def hostile_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Reply)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_reason_phrase_with_escapes_reaches_neither_log_nor_status(
    hostile_server: str, tmp_path: Path
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Test}\n"
        f"channels:\n  - {{name: Laut, id: loud, url: '{hostile_server}'}}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    run = runner.invoke(main, ["run", "--once", "--config", str(config)])
    shown = runner.invoke(main, ["status", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    logged = run.stderr
    assert "Laut: HTTP 503 Slow\\x1b[2J\\x07 down" in logged
    assert "error: HTTP 503 Slow\\x1b[2J\\x07 down" in shown.stdout
    for text in (run.stdout, logged, shown.stdout, shown.stderr):
        assert "\x1b" not in text and "\x07" not in text


def test_printable_escapes_every_control_character() -> None:
    assert printable("a\x1b[31mb\x07c\x00d\x7fe\x9bf\tg\nh\ri") == (
        "a\\x1b[31mb\\x07c\\x00d\\x7fe\\x9bf\\tg\\nh\\ri"
    )
    assert printable("Grüße, ½ € — fine") == "Grüße, ½ € — fine"


def test_formatter_escapes_messages_and_exceptions_but_keeps_traceback_lines() -> None:
    formatter = TerminalSafeFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("bad \x1b]0;title\x07 value")
    except ValueError:
        record = logging.LogRecord(
            "kanalwerk", logging.ERROR, __file__, 1, "feed %s:\n%s", ("\x1b[2J", "x"), None
        )
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    first, *rest = text.split("\n")
    assert first == "ERROR feed \\x1b[2J:\\nx"
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: bad \\x1b]0;title\\x07 value"
    assert "\x1b" not in text and "\x07" not in text
