"""`kanalwerk unpublish`: the article leaves feed and index at once, its page becomes a
notice at the same URL, and nothing brings it back by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kanalwerk.models import SiteInfo
from kanalwerk.publish import plan
from kanalwerk.publish.pages import ArticleLibrary
from tests.editorial import ATOM, Blog, Post, open_blog

POSTS = [
    Post("keep", "A post that stays", "<p>Still here.</p>", day=1),
    Post("gone", "A post to take down", "<p>Wrong numbers.</p>", day=2),
]
NOTICE = "Dieser Beitrag wurde entfernt."


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Blog]:
    with open_blog(tmp_path) as made:
        made.serve(POSTS)
        yield made


def page_of(blog: Blog, post: Post) -> Path:
    """The article page the feed entry of `post` links to."""
    entry = blog.entries()[post.link]
    (href,) = [e.get("href") for e in entry.findall(f"{ATOM}link") if e.get("rel") == "alternate"]
    return blog.output / str(href).removeprefix("https://blog.example.org/")


def test_unpublish_removes_the_entry_and_leaves_a_notice(blog: Blog) -> None:
    blog.cycle()
    assert set(blog.entries()) == {POSTS[0].link, POSTS[1].link}
    page, kept = page_of(blog, POSTS[1]), page_of(blog, POSTS[0])
    item = str(blog.item_id("gone"))

    result = blog.run("unpublish", item)
    assert result.returncode == 0, result.stderr
    assert f"unpublished 1 article(s): {item}" in result.stdout

    assert set(blog.entries()) == {POSTS[0].link}
    index = (blog.output / "index.html").read_text(encoding="utf-8")
    assert page.name not in index and "A post to take down" not in index
    assert f"artikel/{kept.name}" in index
    notice = page.read_text(encoding="utf-8")
    assert NOTICE in notice
    assert '<meta name="robots" content="noindex">' in notice
    assert '<html lang="de">' in notice
    assert "Wrong numbers" not in notice and "take down" not in notice.lower()

    # Neither a cycle, nor an edit of the original, nor a forced publish brings it back.
    requests = blog.api.requests
    blog.cycle()
    blog.serve([POSTS[0], Post("gone", "A post to take down, fixed", "<p>Right numbers.</p>", 2)])
    blog.cycle()
    assert blog.run("publish").returncode == 0
    assert set(blog.entries()) == {POSTS[0].link}
    assert NOTICE in page.read_text(encoding="utf-8")
    assert blog.states()["gone"] == "removed"
    assert blog.api.requests == requests  # the edit of a removed article costs nothing

    again = blog.run("unpublish", item)  # already removed: nothing to do
    assert again.returncode == 0, again.stderr
    assert "unpublished 0 article(s)" in again.stdout


def test_unpublish_of_an_unknown_id_changes_nothing(blog: Blog) -> None:
    blog.cycle()
    before = blog.states()
    feed = (blog.output / "feed.atom").read_bytes()
    result = blog.run("unpublish", str(blog.item_id("gone")), "4711")
    assert result.returncode == 1
    assert "no article with id 4711" in result.stderr
    assert blog.states() == before
    assert (blog.output / "feed.atom").read_bytes() == feed


def test_the_notice_page_is_planned_for_each_removed_slug() -> None:
    site = SiteInfo("T", None, "https://blog.example.org/", "R", "H", "x", "y")
    library = ArticleLibrary(site, [], removed=["alt-1", "alt-2"])
    pages = {p.path: p for p in plan(library)}
    assert {"artikel/alt-1.html", "artikel/alt-2.html"} <= set(pages)
    assert NOTICE in pages["artikel/alt-1.html"].render(library).decode()
    assert pages["artikel/alt-1.html"].key == pages["artikel/alt-2.html"].key
