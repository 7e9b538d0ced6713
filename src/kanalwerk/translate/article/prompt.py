"""What the model is asked: the system prompt, the source as text, the correction."""

from __future__ import annotations

import re

from kanalwerk.sanitize import html_to_text
from kanalwerk.translate.article.base import ArticleRequest
from kanalwerk.translate.article.condense import Condensed

DEFAULT_ARTICLE_PROMPT = """\
Du bist Redakteurin eines deutschsprachigen Tech-Nachrichtenblogs. Die Vorlage ist ein \
{kind} des Kanals „{channel}“ mit dem Originaltitel „{title}“. Schreibe daraus einen \
Blogartikel auf Deutsch für deutschsprachige Leserinnen und Leser.

Regeln:
- Schreibe natürliches, flüssiges Deutsch im sachlichen Ton einer Nachrichtenseite: keine \
Übersetzung Satz für Satz, sondern einen gut lesbaren Artikel, der dem Gedankengang der \
Vorlage folgt.
- Bleib der Vorlage treu. Fakten, Zahlen, Namen und Zitate genau wie dort; erfinde nichts \
und ergänze keine Fakten, Meinungen oder Hintergründe, die nicht in der Vorlage stehen.
- Deutsche Konventionen: „Anführungszeichen“, Dezimalkomma (3,5 Prozent), Daten wie \
27. Januar 2025, 24-Stunden-Zeit. Namen von Produkten, Firmen, Personen und Modellen \
bleiben unverändert.
- Bei einem Video schreibst du über den Inhalt, nicht über das Video („In diesem Video …“).
- Die Überschrift ist eine echte deutsche Schlagzeile: knapp, konkret, höchstens etwa \
100 Zeichen, nicht reißerisch, ohne Anführungszeichen drumherum.
- Der Teaser sagt in ein bis drei Sätzen, worum es geht.
{glossary}"""

RESPONSE_CONTRACT = """
Antworte NUR mit einem JSON-Objekt {"title": "…", "teaser": "…", "body_html": "…"}:
- "title": die deutsche Überschrift, reiner Text ohne HTML.
- "teaser": ein bis drei Sätze, reiner Text ohne HTML.
- "body_html": der Artikeltext als HTML, gegliedert in Abschnitte mit <h2>-Zwischen\
überschriften, Absätze in <p>, Aufzählungen in <ul> oder <ol> mit <li>. Erlaubt sind nur \
<h2>, <h3>, <p>, <ul>, <ol>, <li>, <strong>, <em>, <blockquote> und <a href="…">; keine \
anderen Tags, kein <h1>. Wiederhole weder Überschrift noch Teaser und füge keinen \
Quellenhinweis an, der wird automatisch ergänzt.
- Links: <a href="…"> nur auf URLs, die in der Vorlage stehen, genau wie dort geschrieben; \
keine anderen Links.
Keine Kommentare, kein Markdown, keine Codeblöcke."""

_SOURCE_LANGUAGES = {
    "en": "Englisch", "fr": "Französisch", "es": "Spanisch", "it": "Italienisch",
    "nl": "Niederländisch", "pt": "Portugiesisch", "zh": "Chinesisch", "ja": "Japanisch",
}  # fmt: skip
_NO_TEXT = "(kein Text, nur der Titel)"
_PLACEHOLDER = re.compile(r"\{(channel|title|kind|glossary)\}")


def kind_of(request: ArticleRequest) -> str:
    return "Video" if request.is_video else "Beitrag"


def render_article_prompt(template: str, request: ArticleRequest) -> str:
    """Fill `{channel}`, `{title}`, `{kind}`, `{glossary}` in one pass; other braces stay."""
    if request.glossary:
        lines = "\n".join(f"- {source} → {target}" for source, target in request.glossary)
        terms = f"\nGlossar: gib diese Begriffe genau so wieder (Vorlage → Deutsch):\n{lines}\n"
    else:
        terms = ""
    values = {
        "channel": request.channel_name,
        "title": request.title,
        "kind": kind_of(request),
        "glossary": terms,
    }
    prompt = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return prompt.rstrip() + "\n" + RESPONSE_CONTRACT


def source_text(html: str) -> str:
    """The source as the model reads it: its visible text, one paragraph per block.

    Links keep their URLs ("text (URL)"), since the article may link only to those.
    """
    return "\n\n".join(html_to_text(html, links=True).splitlines())


def _header(request: ArticleRequest) -> list[str]:
    lines = [
        f"Originaltitel: {request.title}",
        f"Kanal: {request.channel_name}",
        f"Art: {kind_of(request)}",
    ]
    language = _SOURCE_LANGUAGES.get(request.source_lang.lower())
    if language:
        lines.append(f"Sprache der Vorlage: {language}")
    return lines


def _what(request: ArticleRequest) -> str:
    if request.source_label:
        return request.source_label
    return "Transkript bzw. Beschreibung des Videos" if request.is_video else "Inhalt des Beitrags"


def source_message(request: ArticleRequest, text: str) -> str:
    """The user message carrying the whole source `text` (see `source_text`)."""
    lines = [*_header(request), "", f"Vorlage ({_what(request)}):", "", text or _NO_TEXT]
    return "\n".join([*lines, "", "Antworte mit dem JSON-Objekt."])


def condensed_message(request: ArticleRequest, condensed: Condensed) -> str:
    """The user message carrying a long source as its notes, part by part, in order."""
    count = len(condensed.parts)
    chars = f"{condensed.source_chars:,}".replace(",", ".")
    lines = [
        *_header(request),
        "",
        f"Vorlage ({_what(request)}, als Notizen): Die Vorlage hat {chars} Zeichen; sie "
        f"wurde der Reihe nach in {count} Teilen zu Notizen in ihrer Sprache verdichtet.",
    ]
    for number, notes in enumerate(condensed.parts, start=1):
        body = "\n".join(f"- {note}" for note in notes) or "(nichts Wesentliches)"
        lines += ["", f"Teil {number} von {count}:", body]
    lines += [
        "",
        "[Die Notizen decken die ganze Vorlage ab, vom Anfang bis zum Ende. Der Artikel folgt "
        "ihnen durch alle Teile bis zum letzten und sagt nur, was in ihnen steht.]",
        "",
        "Antworte mit dem JSON-Objekt.",
    ]
    return "\n".join(lines)


def correction(reason: str) -> str:
    """The follow-up that sends a faulty answer back to the model."""
    return (
        f"Diese Antwort ist so nicht verwendbar: {reason}. Schicke das vollständige, "
        'korrigierte JSON-Objekt {"title": "…", "teaser": "…", "body_html": "…"} '
        "nach denselben Regeln, auf Deutsch und ohne weiteren Text."
    )
