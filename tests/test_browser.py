"""The published site in a real browser: headless Chromium over a local HTTP server.

Screenshots at 1280 px and 390 px are kept in `test-artifacts/browser/` for people to look
at. Skipped only where no `chromium` is installed (`.ci/run` installs it).
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kanalwerk.publish import publish
from kanalwerk.publish.site import article_path, list_path
from tests.sites import CHANNELS, library, make_article, site_info

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
WIDTHS = (1280, 390)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THUMBNAIL = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="270" viewBox="0 0 480 270">'
    b'<rect width="480" height="270" fill="#2b6cb0"/>'
    b'<circle cx="240" cy="135" r="60" fill="#ffffff" fill-opacity=".85"/>'
    b'<path d="M222 105 L272 135 L222 165 Z" fill="#2b6cb0"/></svg>'
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (apt-get install chromium)"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads what the browser saw, not the access log


@pytest.fixture
def site_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving the (still empty) output folder."""
    output = tmp_path / "output"
    output.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(output))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", output
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_pages_render_without_errors_or_sideways_scrolling(site_server: tuple[str, Path]) -> None:
    from playwright.sync_api import ConsoleMessage, sync_playwright

    url, output = site_server
    site = site_info(page_size=4)
    (output / "bilder").mkdir()
    (output / "bilder" / "vorschau.svg").write_bytes(THUMBNAIL)
    thumbnail = url + "bilder/vorschau.svg"
    long_title = (
        "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenhersteller erklären "
        "https://example.org/ein/sehr/langer/pfad/ohne/jede/moeglichkeit/zum/umbrechen"
    )
    articles = [
        make_article(n, site, channel=CHANNELS[n % 2], thumbnail=thumbnail if n % 3 else None)
        for n in range(1, 10)
    ]
    articles.append(
        make_article(
            10,
            site,
            channel=CHANNELS[0],
            title=long_title,
            teaser="Ein Anriss mit einer langen Adresse: " + "https://example.org/" + "x" * 120,
            thumbnail=thumbnail,
        )
    )
    publish(library(articles, site), output)
    newest = articles[-1]
    pages = {
        "startseite": list_path(None),
        "quelle": list_path(None, CHANNELS[0].id),
        "artikel": article_path(newest.slug),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text} ({message.location.get('url')})")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("console", on_console)
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
                for name, path in pages.items():
                    response = page.goto(url + path, wait_until="load")
                    assert response is not None and response.status == 200, path
                    assert page.evaluate("document.documentElement.lang") == "de"
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                    scroll_width = page.evaluate("document.documentElement.scrollWidth")
                    assert scroll_width <= width, f"{path} is {scroll_width} px wide at {width}"
                    images = page.evaluate(
                        "[...document.images].map(i => [i.currentSrc, i.complete, i.naturalWidth])"
                    )
                    broken = [src for src, done, natural in images if done and not natural]
                    assert not broken, f"{path}: images that did not load: {broken}"
                page.close()
        finally:
            browser.close()
    assert problems == []
    assert all((ARTIFACTS / f"{n}-{w}.png").stat().st_size > 1000 for n in pages for w in WIDTHS)
