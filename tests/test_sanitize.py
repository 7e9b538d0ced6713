from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib.metadata import version

import pytest

from kanalwerk import sanitize
from kanalwerk.models import Item
from kanalwerk.sanitize import (
    MAX_DEPTH,
    MAX_ITEM_HTML_CHARS,
    collapse_whitespace,
    cut_html,
    feed_id_iri,
    html_to_text,
    http_url,
    sanitize_article_html,
    sanitize_html,
    sanitize_item,
)


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
    assert html_to_text(html) == "Titel\nHallo Welt& mehr\nEnde"
    assert html_to_text(html, skip=frozenset({"h1"})) == "Hallo Welt& mehr\nEnde"
    assert collapse_whitespace(html_to_text(html)) == "Titel Hallo Welt& mehr Ende"
    assert html_to_text("") == ""


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # Block elements (and <br>, with or without a slash) end a line; inline ones don't.
        ("<p>a</p><p>b</p>", "a\nb"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<ul><li>eins</li><li>zwei</li></ul>", "eins\nzwei"),
        ("<p>a<b>b</b><i>c</i></p>", "abc"),
        ("<div><div><p>tief</p></div></div>", "tief"),
        # Entities are decoded exactly once.
        ("The &lt;dialog&gt; element", "The <dialog> element"),
        ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),
        ("Caf&eacute; &#8211; &#x201C;x&#x201D;", "Café – “x”"),
        # Whitespace folds within a line; source line breaks are only whitespace.
        ("<p>  viel \n\t Platz  </p>", "viel Platz"),
        ("<p>a</p>\n\n   <p>b</p>", "a\nb"),
        # Scripts, styles and their kin go with their content; control characters go.
        ("<style>p{}</style><template>t</template><noscript>n</noscript>ok", "ok"),
        ("a\x01b\x1f", "ab"),
    ],
)
def test_html_to_text_rules(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # An http(s) link keeps its URL after the text, for a reader who must cite it.
        (
            '<p>Read <a href="https://e.org/paper">the paper</a>.</p>',
            "Read the paper (https://e.org/paper).",
        ),
        # A link whose text is its URL, or that has no text, is shown once.
        ('<a href="https://e.org/x">https://e.org/x</a>', "https://e.org/x"),
        ('<a href="https://e.org/x"><img src="i.png"></a>', "https://e.org/x"),
        # Other schemes and relative links are no URL to cite: the text stays alone.
        ('<a href="javascript:alert(1)">hier</a> <a href="/rel">da</a>', "hier da"),
        ('<a href="mailto:a@e.org">Mail</a>', "Mail"),
        # List items are bullets, nested ones too.
        ("<ul><li>eins</li><li>zwei<ol><li>drei</li></ol></li></ul>", "- eins\n- zwei\n- drei"),
        # A link inside skipped content goes with it.
        ('<script><a href="https://e.org/s">s</a></script>ok', "ok"),
    ],
)
def test_html_to_text_with_links(html: str, text: str) -> None:
    assert html_to_text(html, links=True) == text


def test_html_to_text_shows_links_only_when_asked() -> None:
    html = '<ul><li><a href="https://e.org/a">A</a></li></ul>'
    assert html_to_text(html) == "A"
    assert html_to_text(html, links=True) == "- A (https://e.org/a)"


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
    # Title and author are plain text: cleaned, never parsed as HTML a second time.
    assert clean.title == "<b>Neues</b> &amp; Altes"
    assert clean.author == "<i>Ann</i> &lt;ann&gt;"
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
    item = Item(guid="g", link=None, title="t", author=" \x01 ")
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
        # What browsers skip does not hide a scheme: tabs and newlines anywhere,
        # controls and spaces at the ends.
        ("java\tscript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("\x01\x02 javascript:alert(1)", False),
        ("jav&#x09;ascript:alert(1)", False),
        ("vbscript:msgbox(1)", False),
        # An http(s) URL needs a host.
        ("http:///path", False),
        ("https:evil.example/x", False),
        ("https:\\\\evil.example\\x", False),
        ("http://[::1", False),
        ("HTTPS://Example.org/A", True),
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


def test_http_url_returns_what_a_browser_would_open() -> None:
    assert http_url(" https://exa\tmple.org/p\nath ") == "https://example.org/path"
    # Spaces inside are percent-encoded, as a browser does; never in the host.
    assert http_url("https://example.org/my post?q=a b#c d") == (
        "https://example.org/my%20post?q=a%20b#c%20d"
    )
    assert http_url("https://exa mple.org/post") is None
    assert http_url("https://example.org/my\x01post") is None


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("https://blog.example.org/", "https://blog.example.org/"),
        ("tag:blogger.com,1999:blog-42", "tag:blogger.com,1999:blog-42"),
        (
            "urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6",
            "urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6",
        ),
        (" tag:a,2025:x\n", "tag:a,2025:x"),
        ("java\tscript:alert(1)", None),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("tag:a b", None),
        ("42", None),
        (None, None),
        # Any IRI scheme is an id (YouTube's among them), except those that run or read.
        ("yt:channel:UCvJJ_dzjViJCoLf5uKUTwoA", "yt:channel:UCvJJ_dzjViJCoLf5uKUTwoA"),
        ("urn:x-example:feed+1.2", "urn:x-example:feed+1.2"),
        ("VBScript:msgbox(1)", None),
        ("java\tscript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("yt:channel:UC\x01x", None),
        ("http:///no-host", None),
        ("https://example.org/a b", None),
        ("1yt:channel:x", None),
    ],
)
def test_feed_id_iri(value: str | None, kept: str | None) -> None:
    assert feed_id_iri(value) == kept


FORGED_BOX = (
    '<div class="quelle" role="note"><p><strong>Hinweis zur Quelle</strong></p>'
    "<p>Dieser Beitrag ist ein Original von uns.</p></div>"
    '<p class="meta original beitrag">x</p><span class="quelle">y</span>'
)


def test_feed_html_cannot_forge_the_attribution_box() -> None:
    clean = sanitize_html(FORGED_BOX)
    assert "class=" not in clean and "role=" not in clean
    assert "Dieser Beitrag ist ein Original von uns." in clean  # the text is only text now
    stored = sanitize_item(Item(guid="g", link=None, title="t", content_html=FORGED_BOX))
    assert "quelle" not in stored.content_html


def test_article_html_keeps_our_box() -> None:
    ours = '<div class="quelle" role="note"><p>Hinweis</p></div><p class="x">y</p>'
    assert (
        sanitize_article_html(ours)
        == '<div class="quelle" role="note"><p>Hinweis</p></div><p>y</p>'
    )


def depth(html: str) -> int:
    """The deepest element nesting of sanitized (well-formed) HTML."""
    deepest = level = 0
    for match in re.finditer(r"<(/?)[a-z][^>]*?(/?)>", html):
        if match.group(1):
            level -= 1
        elif not match.group(2) and not match.group(0).startswith(("<br", "<img", "<hr", "<wbr")):
            level += 1
            deepest = max(deepest, level)
    return deepest


def test_deep_nesting_is_flattened_before_sanitizing() -> None:
    levels = 100_000
    html = "<div>" * levels + "<p>innen</p>" + "</div>" * levels + "<p>danach</p>"
    clean = sanitize_html(html)
    assert depth(clean) <= MAX_DEPTH
    assert "innen" in clean and clean.endswith("<p>danach</p>")
    assert len(clean) < 20 * MAX_DEPTH + 100


def test_unclosed_deep_nesting_is_flattened() -> None:
    clean = sanitize_html("<blockquote><b>" * 20_000 + "x")
    assert depth(clean) <= MAX_DEPTH + 2
    assert "x" in clean


def test_flattening_keeps_ordinary_markup() -> None:
    # Long lists without end tags are not deep; nesting below the bound is untouched.
    items = "".join(f"<li>{n}" for n in range(1000))
    clean = sanitize_html(f"<ul>{items}</ul>")
    assert clean.count("<li>") == 1000 and depth(clean) == 2
    nested = "<div>" * 30 + "<p>x</p>" + "</div>" * 30
    assert sanitize_html(nested) == nested


def test_item_html_is_cut_before_sanitizing() -> None:
    body = "<p>" + "Wort " * 150_000 + "</p>"
    stored = sanitize_item(Item(guid="g", link=None, title="t", content_html=body))
    assert len(stored.content_html) <= MAX_ITEM_HTML_CHARS + len("</p>")
    assert stored.content_html.startswith("<p>Wort") and stored.content_html.endswith("</p>")
    assert cut_html("<p>ab</p><p>cd</p>", 11) == "<p>ab</p>"
    assert cut_html("<p>ab</p>", 100) == "<p>ab</p>"


def test_lone_surrogates_are_replaced_in_every_text_field() -> None:
    item = Item(
        guid="id-\ud800",
        link="https://e.org/\udfff",
        title="Titel \ud800",
        author="Ann\udc00",
        content_html="<p>a\ud800</p>",
    )
    clean = sanitize_item(item)
    assert clean.guid == "id-\ufffd" and clean.title == "Titel \ufffd"
    assert clean.author == "Ann\ufffd" and clean.content_html == "<p>a\ufffd</p>"
    assert clean.link is None
    for value in (clean.guid, clean.title, clean.author, clean.content_html):
        value.encode("utf-8")


def test_policy_names_nh3_and_changes_with_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sanitize.POLICY.startswith(f"nh3 {version('nh3')} ")
    assert sanitize.article_policy() == sanitize.POLICY  # the same in every run
    changes = {
        "ALLOWED_TAGS": sanitize.ALLOWED_TAGS | {"iframe"},
        "ALLOWED_ATTRIBUTES": {**sanitize.ALLOWED_ATTRIBUTES, "p": {"style"}},
        "ARTICLE_CLASSES": {"div": {"quelle", "x"}},
        "ARTICLE_ATTRIBUTE_VALUES": {"div": {"role": {"note", "alert"}}},
        "URL_SCHEMES": sanitize.URL_SCHEMES | {"data"},
        "LINK_REL": "noopener",
        "DROPPED_WITH_CONTENT": sanitize.DROPPED_WITH_CONTENT - {"svg"},
        "MAX_DEPTH": sanitize.MAX_DEPTH + 1,
    }
    seen = {sanitize.POLICY}
    for name, value in changes.items():
        with monkeypatch.context() as patch:
            patch.setattr(sanitize, name, value)
            changed = sanitize.article_policy()
        assert changed not in seen, name
        seen.add(changed)
    assert sanitize.article_policy() == sanitize.POLICY
