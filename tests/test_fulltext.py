"""Full text of summary-only feeds: pages served on 127.0.0.1, trafilatura for real."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from kanalwerk.sources.fulltext import MIN_CHARACTERS, Extractor, FullText, Page, full_texts
from kanalwerk.sources.robots import Robots
from tests.servers import LocalServer, Resource, Response
from tests.test_fetch import fetch_settings
from tests.worker_functions import hang

# The pages are on 127.0.0.1.
SETTINGS = fetch_settings(
    max_bytes=1_000_000,
    allow_private_addresses=True,
    user_agent="kanalwerk/0.1.0 (+https://example.org/)",
)

PARAGRAPHS = [
    "The new model was trained on 14.8 trillion tokens over two months, the company said "
    "on Tuesday, at a cost far below what its competitors have reported for theirs.",
    "Engineers described a mixture-of-experts design in which only a small share of the "
    "parameters is active for any one token, which keeps inference cheap on older chips.",
    "Analysts cautioned that the reported training cost leaves out earlier experiments, "
    "staff and the hardware itself, so the comparison with other labs is not like for like.",
]
ARTICLE = f"""<!doctype html>
<html><head><title>Model news</title><script>track()</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article>
<h1>A cheaper model</h1>
<p>{PARAGRAPHS[0]} See <a href="/report.pdf" onclick="steal()">the report</a>.</p>
<h2>How it works</h2>
<p>{PARAGRAPHS[1]}</p>
<ul><li>671 billion parameters in all</li><li>37 billion active per token</li></ul>
<figure><img src="/img/chart.png" alt="Training cost chart"></figure>
<p>{PARAGRAPHS[2]}</p>
<script>alert(1)</script>
</article>
<footer>Copyright 2025 Example News. All rights reserved.</footer>
</body></html>""".encode()
SUMMARY = "<p>A new model, trained cheaply.</p>"


@pytest.fixture(scope="module")
def extractor() -> Iterator[Extractor]:
    with Extractor() as it:
        yield it


def page(server: LocalServer, path: str, item_id: int = 1, feed_html: str = SUMMARY) -> Page:
    return Page(item_id, server.url(path), feed_html)


def test_a_summary_becomes_the_pages_article_with_structure_kept(
    server: LocalServer, extractor: Extractor
) -> None:
    server.routes["/post"] = Resource(ARTICLE, "text/html; charset=utf-8")
    found = full_texts([page(server, "/post")], SETTINGS, extractor=extractor)
    html = found[1].html
    assert html is not None and found[1].reason is None
    for paragraph in PARAGRAPHS:
        assert paragraph in html
    assert "<h2>How it works</h2>" in html
    assert "<li>671 billion parameters in all</li>" in html
    assert f'href="{server.url("/report.pdf")}"' in html  # made absolute
    assert f'src="{server.url("/img/chart.png")}"' in html
    assert "script" not in html and "onclick" not in html and "alert" not in html
    assert "Copyright" not in html and "About" not in html  # boilerplate left out
    (request,) = server.requests_to("/post")
    assert request.headers["user-agent"] == SETTINGS.user_agent


def test_a_page_with_too_little_text_keeps_the_feeds(
    server: LocalServer, extractor: Extractor
) -> None:
    server.routes["/short"] = Resource(
        b"<html><body><article><p>Subscribe to read this article.</p></article></body></html>",
        "text/html",
    )
    found = full_texts([page(server, "/short")], SETTINGS, extractor=extractor)
    assert found[1].html is None
    assert found[1].reason is not None and found[1].reason.startswith("too little text on the page")


def test_a_page_with_less_text_than_the_feed_keeps_the_feeds(
    server: LocalServer, extractor: Extractor
) -> None:
    server.routes["/post"] = Resource(ARTICLE, "text/html")
    longer = "<p>" + " ".join(PARAGRAPHS * 3) + "</p>"
    assert len(longer) > MIN_CHARACTERS
    found = full_texts([page(server, "/post", feed_html=longer)], SETTINGS, extractor=extractor)
    assert found[1].html is None
    assert found[1].reason is not None
    assert found[1].reason.startswith("the page has no more text than the feed")


def test_robots_txt_is_read_once_per_site_and_obeyed(
    server: LocalServer, extractor: Extractor
) -> None:
    server.routes["/robots.txt"] = Resource(
        b"User-agent: *\nDisallow: /\n\nUser-agent: kanalwerk\nDisallow: /private/\n",
        "text/plain",
    )
    server.routes["/private/post"] = Resource(ARTICLE, "text/html")
    server.routes["/public/post"] = Resource(ARTICLE, "text/html")
    pages = [page(server, "/private/post", 1), page(server, "/public/post", 2)]
    robots = Robots(SETTINGS)
    found = full_texts(pages, SETTINGS, extractor=extractor, robots=robots)
    assert found[1] == FullText(None, f"{server.base_url}/robots.txt disallows fetching the page")
    assert found[2].html is not None
    assert server.requests_to("/private/post") == []
    full_texts([page(server, "/private/post", 3)], SETTINGS, extractor=extractor, robots=robots)
    assert len(server.requests_to("/robots.txt")) == 1  # once per site and run


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (503, False)])
def test_robots_txt_missing_means_allowed_unreadable_means_not(
    server: LocalServer, extractor: Extractor, status: int, allowed: bool
) -> None:
    server.routes["/robots.txt"] = lambda r: Response(status, b"", {})
    server.routes["/post"] = Resource(ARTICLE, "text/html")
    found = full_texts([page(server, "/post")], SETTINGS, extractor=extractor)
    assert (found[1].html is not None) is allowed
    if not allowed:
        assert found[1].reason is not None
        assert found[1].reason.startswith(f"{server.base_url}/robots.txt could not be read")
        assert server.requests_to("/post") == []


def test_pages_that_cannot_be_had_say_why(server: LocalServer, extractor: Extractor) -> None:
    server.routes["/report.pdf"] = Resource(b"%PDF-1.7", "application/pdf")
    server.routes["/huge"] = Resource(b"<html>" + b"x" * 1_100_000, "text/html")
    pages = [
        page(server, "/report.pdf", 1),
        page(server, "/gone", 2),
        page(server, "/huge", 3),
        Page(4, None, SUMMARY),
    ]
    found = full_texts(pages, SETTINGS, extractor=extractor)
    assert found[1].reason == "the page is no HTML page (application/pdf)"
    assert found[2].reason == "the page could not be fetched: HTTP 404 Not Found"
    assert found[3].reason is not None and "larger than the 1.0 MB limit" in found[3].reason
    assert found[4].reason == "the item links to no page"


def test_a_link_to_a_private_address_is_not_followed(server: LocalServer) -> None:
    server.routes["/post"] = Resource(ARTICLE, "text/html")
    guarded = dataclasses.replace(SETTINGS, allow_private_addresses=False)
    url = server.url("/post").replace("127.0.0.1", "localhost")
    found = full_texts([Page(1, url, SUMMARY)], guarded)
    assert found[1] == FullText(
        None, "the link was not followed: localhost is a private or loopback address"
    )
    assert server.requests == []  # not even robots.txt


# --- the time bound ------------------------------------------------------------------


def test_an_extraction_that_overruns_is_killed_and_the_next_one_runs() -> None:
    with Extractor(seconds=0.5, function=hang) as extractor:
        with pytest.raises(TimeoutError, match=r"longer than 0\.5s"):
            extractor.extract(b"hang", "https://example.org/slow")
        assert extractor.extract(b"fine", "https://example.org/next") == "fine"
