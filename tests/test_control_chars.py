"""The byte-level pre-checks that skip the control-character patterns agree with them."""

from __future__ import annotations

import re

from kanalwerk.publish.site import _ASTRAL, _HTML_FORBIDDEN, _html_document, _keep_astral
from kanalwerk.sanitize import _SURROGATE, _XML_ILLEGAL, strip_control_chars

# Every BMP code point, and astral ones around each plane's noncharacters.
CODE_POINTS = [
    *range(0x10000),
    *(
        plane + low
        for plane in range(0x10000, 0x110000, 0x10000)
        for low in (0, 0xFFFD, 0xFFFE, 0xFFFF)
    ),
]


def _slow_xml(text: str) -> str:
    return _XML_ILLEGAL.sub("", _SURROGATE.sub("\ufffd", text))


def _slow_html(text: str) -> bytes:
    return _ASTRAL.sub(_keep_astral, _HTML_FORBIDDEN.sub("", text)).encode("utf-8", "surrogatepass")


def test_strip_control_chars_equals_the_patterns_for_every_character() -> None:
    for code in CODE_POINTS:
        text = f"Größe {chr(code)} €"
        assert strip_control_chars(text) == _slow_xml(text), hex(code)


def test_html_document_equals_the_patterns_for_every_character() -> None:
    for code in CODE_POINTS:
        if 0xD800 <= code <= 0xDFFF:
            continue  # removed by the pattern; see the test below
        text = f"<p>Größe {chr(code)} €</p>"
        assert _html_document(text) == _slow_html(text), hex(code)


def test_clean_text_is_returned_as_it_is() -> None:
    text = "Größer, schneller – „offen“ · ❤\ufe0f 😀\n\t"  # lead bytes 0xC2, 0xEF, 0xF0
    assert strip_control_chars(text) is text
    assert _html_document("<p>Größe\ud800</p>") == "<p>Größe</p>".encode()
    assert re.search("[\x00-\x08]", _html_document("a\x00b").decode()) is None
