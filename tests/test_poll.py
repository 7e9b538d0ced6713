"""The poll stage against a loopback feed server: what is asked, what is remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kanalwerk.config import load_config
from kanalwerk.models import FetchResult
from kanalwerk.pipeline import PARSE_POOL_THRESHOLD, Pipeline
from kanalwerk.store import FetchRecord, Store
from tests.cli import run_cli
from tests.servers import LocalServer, Request, Resource, Response


def write_config(folder: Path, server: LocalServer) -> Path:
    path = folder / "feeds.yaml"
    path.write_text(
        "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Test}\n"
        "channels:\n"
        f"  - {{name: Gut, id: good, url: '{server.url('/good.xml')}'}}\n"
        f"  - {{name: Überlastet, id: busy, url: '{server.url('/busy.xml')}'}}\n",
        encoding="utf-8",
    )
    return path


def test_retry_after_pauses_the_channel_and_is_capped(
    server: LocalServer, tmp_path: Path, data_dir: Path
) -> None:
    server.routes["/good.xml"] = Resource((data_dir / "wordpress.rss").read_bytes())
    retry_after = ["3600"]

    def busy(_request: Request) -> Response:
        return Response(503, b"try later", {"Retry-After": retry_after[0]})

    server.routes["/busy.xml"] = busy
    config = load_config(write_config(tmp_path, server))
    with Store.open(config.store) as store, Pipeline(config, store) as polling:
        first = {o.channel_id: o for o in polling.poll().outcomes}
        assert first["busy"].status == 503 and first["busy"].error
        assert first["good"].new_items == 3

        shown = run_cli(tmp_path / "feeds.yaml", "status")
        assert shown.returncode == 0, shown.stderr
        assert "next poll in 1 h: server asked (Retry-After)" in shown.stdout

        second = {o.channel_id: o for o in polling.poll().outcomes}
        assert len(server.requests_to("/busy.xml")) == 1  # not asked again
        waiting = second["busy"].waiting_until
        assert waiting is not None
        assert timedelta(minutes=59) < waiting - datetime.now(UTC) <= timedelta(hours=1)
        assert second["busy"].error is None
        assert second["good"].not_modified
        assert len(server.requests_to("/good.xml")) == 2

        # A pause ends: the channel is polled again; an absurd Retry-After is capped.
        store.record_fetches(
            [FetchRecord(FetchResult("busy", server.url("/busy.xml"), "", 503, error="x"))]
        )
        retry_after[0] = str(365 * 24 * 3600)
        polling.poll()
        assert len(server.requests_to("/busy.xml")) == 2
        state = store.fetch_states(["busy"])["busy"]
        assert state.not_before is not None
        assert state.not_before - datetime.now(UTC) <= timedelta(hours=24)


def test_many_feeds_are_parsed_in_worker_processes_and_sanitized(
    server: LocalServer, tmp_path: Path
) -> None:
    count = PARSE_POOL_THRESHOLD + 4  # enough to start the process pool
    lines = [
        "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Test}",
        "channels:",
    ]
    for n in range(count):
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
            f"<link>javascript:alert({n})</link>"
            f"<item><title>Post {n}</title><guid>p{n}</guid><link>https://e.org/{n}</link>"
            '<description>&lt;p onclick="x()"&gt;Hello&lt;script&gt;bad()&lt;/script&gt;'
            "&lt;/p&gt;</description></item></channel></rss>"
        ).encode()
        server.routes[f"/f{n}.xml"] = Resource(body)
        lines.append(f"  - {{name: Feed {n}, id: f{n}, url: '{server.url(f'/f{n}.xml')}'}}")
    (tmp_path / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(tmp_path / "feeds.yaml")
    with Store.open(config.store) as store, Pipeline(config, store) as polling:
        report = polling.poll()
        assert report.failed == 0 and report.new_items == count
        items = store.pending_items(5)
        assert sorted(i.item.title for i in items) == sorted(f"Post {n}" for n in range(count))
        for stored in items:
            assert stored.item.content_html == "<p>Hello</p>"
            assert stored.source.feed_link is None  # the feed's javascript: "site" dropped


def test_retry_after_is_honoured_only_on_429_and_503(server: LocalServer, tmp_path: Path) -> None:
    """Documented for 429/503: a 404 or 500 with Retry-After is polled again next time."""
    server.routes["/good.xml"] = lambda r: Response(404, b"gone", {"Retry-After": "3600"})
    server.routes["/busy.xml"] = lambda r: Response(500, b"oops", {"Retry-After": "3600"})
    config = load_config(write_config(tmp_path, server))
    with Store.open(config.store) as store, Pipeline(config, store) as polling:
        first = {o.channel_id: o for o in polling.poll().outcomes}
        assert (first["good"].status, first["busy"].status) == (404, 500)
        assert first["good"].error == "HTTP 404 Not Found"
        assert first["busy"].error == "HTTP 500 Internal Server Error"
        states = store.fetch_states(["good", "busy"])
        assert states["good"].not_before is None and states["busy"].not_before is None
        again = polling.poll().outcomes
        assert all(o.waiting_until is None for o in again)
        assert len(server.requests_to("/good.xml")) == len(server.requests_to("/busy.xml")) == 2


def test_a_permanent_redirect_into_the_local_network_is_not_stored(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public feed's 301 to a loopback address is refused and the configured URL kept.

    The public address is reached through the loopback server as the environment's HTTP
    proxy: these tests cannot reach the internet.
    """
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.setenv("http_proxy", server.base_url)
    public, inside = "http://1.2.3.4/feed.xml", server.url("/internal.xml")
    server.routes[public] = lambda r: Response(301, b"", {"Location": inside})
    server.routes[inside] = Resource(
        b"<rss version='2.0'><channel><title>x</title></channel></rss>"
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "site: {title: Testblog, base_url: 'https://blog.example.de/', author: Test}\n"
        f"channels:\n  - {{name: Umzug, id: moved, url: '{public}'}}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    with Store.open(config.store) as store, Pipeline(config, store) as polling:
        (outcome,) = polling.poll().outcomes
        assert outcome.error is not None and "refused" in outcome.error
        assert store.fetch_states(["moved"])["moved"].url == public
        assert server.requests_to(inside) == []
