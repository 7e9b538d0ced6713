from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from kanalwerk.sanitize import sanitize_html
from kanalwerk.translate.segment import (
    placeholder_ok,
    segment_html,
)

VOID = {"br", "img", "hr", "wbr"}


class _Balance(HTMLParser):
    """Checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack}")
        else:
            self.stack.pop()


def assert_well_formed(markup: str) -> None:
    checker = _Balance()
    checker.feed(markup)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed: {checker.stack}"


def upper(text: str) -> str:
    """A fake translation that changes words but keeps placeholders and entities."""
    return re.sub(r"(<[^>]*>|&\w+;)|([^<&]+)", lambda m: m.group(1) or m.group(2).upper(), text)


def test_inline_markup_stays_in_one_segment_with_placeholders() -> None:
    doc = (
        '<p>Read <a href="https://example.org/a?b=1&amp;c=2">this <em>great</em> post</a> now.</p>'
    )
    seg = segment_html(doc)
    assert seg.texts == ("Read <x1>this <x2>great</x2> post</x1> now.",)
    out = seg.render([upper(t) for t in seg.texts])
    assert out == (
        '<p>READ <a href="https://example.org/a?b=1&amp;c=2">THIS <em>GREAT</em> POST</a> NOW.</p>'
    )


def test_blocks_become_separate_segments() -> None:
    doc = (
        "<h2>Title here</h2><p>First paragraph.</p><ul><li>One item</li><li>Two item</li></ul>"
        "<blockquote><p>Quoted</p>tail</blockquote><table><tr><th>Head</th><td>Cell</td></tr>"
        "</table><figure><img src='a.png' alt='x'><figcaption>A caption</figcaption></figure>"
    )
    seg = segment_html(doc)
    assert seg.texts == (
        "Title here",
        "First paragraph.",
        "One item",
        "Two item",
        "Quoted",
        "tail",
        "Head",
        "Cell",
        "A caption",
    )
    out = seg.render([upper(t) for t in seg.texts])
    assert "<li>ONE ITEM</li><li>TWO ITEM</li>" in out
    assert '<figure><img src="a.png" alt="x"><figcaption>A CAPTION</figcaption>' in out
    assert_well_formed(out)


def test_br_separates_runs_at_block_level_but_not_inside_inline() -> None:
    seg = segment_html("<p>Line one<br>Line two <strong>bold<br>still bold</strong></p>")
    assert seg.texts == ("Line one", "Line two <x1>bold<x2/>still bold</x1>")
    out = seg.render([upper(t) for t in seg.texts])
    assert out == "<p>LINE ONE<br>LINE TWO <strong>BOLD<br>STILL BOLD</strong></p>"


def test_code_pre_and_translate_no_are_never_sent() -> None:
    doc = (
        "<p>Call <code>foo(bar)</code> or press <kbd>Ctrl</kbd>.</p>"
        "<pre><code>def f():\n    return 'text'</code></pre>"
        '<p><span translate="no">Kanalwerk Labs</span> ships <span class="notranslate">'
        "x-tool</span> today.</p>"
        '<div translate="no"><p>Keep this paragraph</p></div>'
    )
    seg = segment_html(doc)
    assert seg.texts == ("Call <x1/> or press <x2/>.", "<x1/> ships <x2/> today.")
    joined = " ".join(seg.texts)
    for hidden in ("foo", "def f", "Kanalwerk", "x-tool", "Keep this"):
        assert hidden not in joined
    out = seg.render([upper(t) for t in seg.texts])
    assert "<code>foo(bar)</code>" in out
    assert "<kbd>Ctrl</kbd>" in out
    assert "<pre><code>def f():\n    return 'text'</code></pre>" in out
    assert '<span translate="no">Kanalwerk Labs</span> SHIPS' in out
    assert '<div translate="no"><p>Keep this paragraph</p></div>' in out


def test_untranslatable_segments_are_kept_verbatim() -> None:
    doc = "<p>  </p><p>2024</p><p>— 3.5 % —</p><p>https://example.org/x</p><p><img src='a.png'></p>"
    seg = segment_html(doc)
    assert seg.texts == ()
    assert seg.render([]) == (
        '<p>  </p><p>2024</p><p>— 3.5 % —</p><p>https://example.org/x</p><p><img src="a.png"></p>'
    )


def test_identity_round_trip_reproduces_sanitized_html() -> None:
    raw = (
        "<h1>Big news</h1><p>Read <a href='https://x.org/?a=1&b=2'>this &amp; that</a>,"
        " it's <em>really</em> <strong>new</strong>!</p>\n<ul>\n  <li>Item <code>a&lt;b</code>"
        "</li>\n</ul><p>Caf&eacute; &nbsp; &lt;tags&gt; <img src='https://x.org/i.png' "
        "alt='Ein &quot;Bild&quot; <von> Bob&#39;s'></p><pre>  keep\n    spacing </pre>"
    )
    doc = sanitize_html(raw)
    seg = segment_html(doc)
    assert seg.render(seg.texts) == doc
    assert "&lt;tags&gt;" in " ".join(seg.texts)


def test_whitespace_around_segments_is_kept_and_collapsed_inside() -> None:
    seg = segment_html("<li>\n   Some\n   words   here\n</li>")
    assert seg.texts == ("Some words here",)
    assert seg.render(["Ein paar Wörter"]) == "<li>\n   Ein paar Wörter\n</li>"


def test_placeholders_round_trip_when_engine_reorders_them() -> None:
    seg = segment_html('<p>The <b>red</b> <a href="/x">car</a> and <code>x</code>.</p>')
    assert seg.texts == ("The <x1>red</x1> <x2>car</x2> and <x3/>.",)
    out = seg.render(["Das <x2>Auto</x2>, <x1>rot</x1>, und <x3/>."])
    assert out == '<p>Das <a href="/x">Auto</a>, <b>rot</b>, und <code>x</code>.</p>'


@pytest.mark.parametrize(
    "translation",
    [
        "Das <x1>rote Auto",  # unclosed pair
        "Das rote</x1> Auto <x1>",  # close before open
        "Das <x1>rote <x2>Auto</x1> fährt</x2>",  # crossing pairs
        "Das <x1>rote</x1> <x1>Auto</x1> <x9>neu</x9> <b>fett</b> <x7/>",  # dupes, unknown
        "Das rote Auto",  # everything dropped
        "Das <x3>rote</x3> <x2/> <x1/> Auto < > & ",  # wrong kinds, stray characters
    ],
)
def test_bad_placeholders_still_give_well_formed_html_and_keep_code(translation: str) -> None:
    seg = segment_html("<p>The <b>red</b> car <i>drives</i> with <code>rm -rf /tmp/x</code>.</p>")
    assert seg.texts == ("The <x1>red</x1> car <x2>drives</x2> with <x3/>.",)
    out = seg.render([translation])
    assert_well_formed(out)
    assert out.count("<code>rm -rf /tmp/x</code>") == 1
    assert "x9" not in out and "x7" not in out and "<b>fett" not in out
    assert out.startswith("<p>") and out.endswith("</p>")


def test_dropped_image_is_reappended_but_dropped_br_is_not() -> None:
    seg = segment_html('<p>See <img src="a.png" alt="A"> and<strong>x<br>y</strong></p>')
    out = seg.render(["Siehe und <x2>xy</x2>"])
    assert '<img src="a.png" alt="A">' in out
    assert "<br>" not in out
    assert_well_formed(out)


def test_render_requires_one_translation_per_text() -> None:
    seg = segment_html("<p>One</p><p>Two</p>")
    with pytest.raises(ValueError, match="expected 2"):
        seg.render(["Eins"])


def test_engine_text_is_escaped_safely() -> None:
    seg = segment_html("<p>Fish &amp; chips &lt;3</p>")
    assert seg.texts == ("Fish &amp; chips &lt;3",)
    assert seg.render(["Fisch & Pommes <3 <script>x</script>"]) == (
        "<p>Fisch &amp; Pommes &lt;3 x</p>"
    )
    assert seg.render(["Fisch &amp; Pommes &lt;3"]) == "<p>Fisch &amp; Pommes &lt;3</p>"


def test_inline_element_holding_blocks_is_treated_as_structure() -> None:
    seg = segment_html('<a href="/x"><div>Card title</div><p>Card text</p></a>')
    assert seg.texts == ("Card title", "Card text")
    out = seg.render(["Kartentitel", "Kartentext"])
    assert out == '<a href="/x"><div>Kartentitel</div><p>Kartentext</p></a>'


def test_unclosed_and_implied_end_tags_are_repaired() -> None:
    seg = segment_html("<ul><li>One<li>Two</ul><p>Open <em>para")
    assert seg.texts == ("One", "Two", "Open <x1>para</x1>")
    out = seg.render([upper(t) for t in seg.texts])
    assert out == "<ul><li>ONE</li><li>TWO</li></ul><p>OPEN <em>PARA</em></p>"


def test_empty_inline_elements_are_void_placeholders() -> None:
    seg = segment_html('<p><a id="top"></a>Start here</p>')
    assert seg.texts == ("<x1/>Start here",)
    assert seg.render(["Hier beginnen"]) == '<p>Hier beginnen <a id="top"></a></p>'


def test_placeholder_ok() -> None:
    source = "Read <x1>this</x1> and <x2/>"
    assert placeholder_ok(source, "Lies <x1>das</x1> und <x2/>")
    assert placeholder_ok(source, "<x2/> und <x1>das</x1> lesen")
    assert placeholder_ok(source, "Lies <x1>das</x1> und <x2 />")
    assert not placeholder_ok(source, "Lies das und <x2/>")
    assert not placeholder_ok(source, "Lies <x1>das</x1> und <x2/> <x2/>")
    assert not placeholder_ok(source, "Lies </x1>das<x1> und <x2/>")
    assert not placeholder_ok(source, "Lies <x1>das</x1> und <x3/>")
    assert placeholder_ok("plain", "schlicht")


@pytest.mark.parametrize("tag", ["div", "span", "blockquote"])
def test_thousands_of_nested_elements_keep_their_text(tag: str) -> None:
    markup = f"<{tag}>" * 5000 + "<p>Deep words.</p>" + f"</{tag}>" * 5000 + "<p>After.</p>"
    doc = segment_html(markup)  # once a RecursionError
    assert any("Deep words." in text for text in doc.texts)
    assert doc.texts[-1] == "After."
    rendered = doc.render([text.replace("Deep words.", "Tiefe Wörter.") for text in doc.texts])
    assert "Tiefe Wörter." in rendered and rendered.endswith("<p>After.</p>")
