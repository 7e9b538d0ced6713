from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kanalwerk.models import Item
from kanalwerk.sanitize import html_to_text, http_url, sanitize_html, sanitize_item


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>a</p><script>alert('x')</script>", ["<script", "alert"]),
        ('<img src="https://e.org/i.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<a href="javascript:alert(1)">klick</a>', ["javascript", "alert"]),
        ('<a href="JaVaScRiPt:alert(1)">klick</a>', ["alert"]),
        ('<iframe src="https://evil.example/"></iframe><p>x</p>', ["<iframe", "evil"]),
        ('<p style="position:fixed">x</p>', ["style", "position"]),
        ("<style>body{display:none}</style><p>x</p>", ["display", "<style"]),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', ["data:"]),
        ('<form action="https://e.org"><input name="q"></form>', ["<form", "<input"]),
        ("<p>x</p><!-- secret comment -->", ["secret"]),
        ('<svg onload="alert(1)"><script>alert(2)</script></svg>', ["alert", "<svg"]),
    ],
)
def test_dangerous_markup_is_removed(dirty: str, forbidden: list[str]) -> None:
    clean = sanitize_html(dirty).lower()
    for word in forbidden:
        assert word.lower() not in clean


def test_allowed_markup_is_kept() -> None:
    html = (
        "<h2>Teil</h2><p><strong>fett</strong> <em>kursiv</em> "
        '<a href="https://e.org/x" title="T">Link</a> '
        '<abbr title="Künstliche Intelligenz">KI</abbr></p>'
        "<blockquote><p>Zitat</p></blockquote><ul><li>eins</li></ul>"
        '<ol start="3"><li>drei</li></ol>'
        '<figure><img src="https://e.org/i.png" alt="Bild" width="10" height="5">'
        "<figcaption>Unterschrift</figcaption></figure>"
        "<table><thead><tr><th>A</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
        '<p>H<sub>2</sub>O, x<sup>2</sup>, <span translate="no">DeepSeek</span></p>'
    )
    clean = sanitize_html(html)
    for fragment in [
        "<h2>Teil</h2>",
        "<strong>fett</strong>",
        "<em>kursiv</em>",
        'href="https://e.org/x"',
        'title="T"',
        '<abbr title="Künstliche Intelligenz">KI</abbr>',
        "<blockquote><p>Zitat</p></blockquote>",
        "<li>eins</li>",
        '<ol start="3">',
        'src="https://e.org/i.png"',
        'alt="Bild"',
        "<figcaption>Unterschrift</figcaption>",
        "<th>A</th>",
        "<td>1</td>",
        "<sub>2</sub>",
        "<sup>2</sup>",
        '<span translate="no">DeepSeek</span>',
    ]:
        assert fragment in clean


def test_code_is_kept_verbatim() -> None:
    html = "<pre><code>if a &lt; b &amp;&amp; c:\n    print(&quot;&lt;tag&gt;&quot;)\n</code></pre>"
    clean = sanitize_html(html)
    assert clean.startswith("<pre><code>")
    assert "if a &lt; b &amp;&amp; c:\n    print(" in clean
    assert "&lt;tag&gt;" in clean
    assert html_to_text(clean) == 'if a < b && c: print("<tag>")'


def test_links_get_rel_and_only_web_schemes() -> None:
    clean = sanitize_html(
        '<a href="https://e.org/">w</a><a href="mailto:a@e.org">m</a><a href="ftp://e.org/">f</a>'
    )
    assert clean.count('rel="noopener noreferrer nofollow"') == 3
    assert 'href="https://e.org/"' in clean
    assert 'href="mailto:a@e.org"' in clean
    assert "ftp:" not in clean


def test_relative_urls_resolved_against_base() -> None:
    clean = sanitize_html(
        '<a href="../b/c.html">x</a><img src="/bild.png">',
        base_url="https://blog.example/2025/01/post.html",
    )
    assert 'href="https://blog.example/2025/b/c.html"' in clean
    assert 'src="https://blog.example/bild.png"' in clean


def test_relative_urls_dropped_without_base() -> None:
    clean = sanitize_html('<a href="/intern">x</a><img src="bild.png" alt="b">')
    assert "intern" not in clean
    assert "bild.png" not in clean
    assert ">x</a>" in clean


def test_xml_illegal_control_characters_are_removed() -> None:
    assert sanitize_html("<p>a\x01b\x0cc\x1fd</p>") == "<p>abcd</p>"


def test_html_to_text() -> None:
    html = "<h1>Titel</h1><p>Hallo&nbsp;<b>Welt</b>&amp;\n mehr</p><script>x()</script><p>Ende</p>"
    assert html_to_text(html) == "Titel Hallo Welt& mehr Ende"
    assert html_to_text(html, skip=frozenset({"h1"})) == "Hallo Welt& mehr Ende"
    assert html_to_text("") == ""


def test_sanitize_item_returns_clean_copy() -> None:
    item = Item(
        guid="g1",
        link="https://blog.example/posts/1",
        title="  <b>Neues</b> &amp; Altes\n ",
        author="<i>Ann</i> &lt;ann&gt;",
        published=datetime(2025, 1, 27, tzinfo=UTC),
        content_html='<p onclick="x()">Text <a href="2">weiter</a></p><script>bad()</script>',
        summary_html="<p>Kurz</p><iframe src='https://e.org'></iframe>",
    )
    clean = sanitize_item(item)
    assert clean is not item
    assert clean.title == "Neues & Altes"
    assert clean.author == "Ann <ann>"
    assert clean.content_html == (
        '<p>Text <a href="https://blog.example/posts/2" rel="noopener noreferrer nofollow">'
        "weiter</a></p>"
    )
    assert clean.summary_html == "<p>Kurz</p>"
    assert clean.guid == item.guid
    assert clean.published == item.published
    # The original is untouched (frozen dataclass copy).
    assert "<script>" in item.content_html


def test_sanitize_item_empty_author_becomes_none() -> None:
    item = Item(guid="g", link=None, title="t", author="<b> </b>")
    assert sanitize_item(item).author is None


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org/post/1", True),
        (" http://example.org/a?b=1 ", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("/relative/path", False),
        ("//example.org/protocol-relative", False),
        ("https://example.org/\x00bad", False),
        (None, False),
    ],
)
def test_http_url_keeps_only_absolute_web_links(url: str | None, kept: bool) -> None:
    assert (http_url(url) is not None) is kept


def test_sanitize_item_drops_script_links_outside_the_body() -> None:
    from kanalwerk.models import Item

    item = Item(
        guid="1",
        link="javascript:alert(1)",
        title="T",
        thumbnail="data:image/svg+xml,<svg onload=alert(1)>",
        content_html='<p>see <a href="/x">x</a></p>',
        base_url="https://example.org/feed/",
    )
    clean = sanitize_item(item)
    assert clean.link is None and clean.thumbnail is None
    assert 'href="https://example.org/x"' in clean.content_html
