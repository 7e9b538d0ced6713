"""Article mode: an OpenAI-compatible model writes a German blog article from the original.

Instead of translating segment by segment, the model reads the whole source as text
(transcript or description of a video, the full content of a post) and answers with a JSON
object `{"title", "teaser", "body_html"}`. Models embellish, so every answer is checked
strictly — tags, links, language — and a faulty one is sent back once with the reason.
A second faulty answer raises `ArticleInvalid` (the item's fault): the caller then falls back
to a plain translation instead of publishing something the source does not say.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Protocol, Unpack
from urllib.parse import urlsplit, urlunsplit

from kanalwerk.errors import ArticleInvalid
from kanalwerk.models import Usage
from kanalwerk.sanitize import collapse_whitespace, html_to_text, sanitize_html
from kanalwerk.translate.cache import TranslationCache
from kanalwerk.translate.language import detect_language
from kanalwerk.translate.meter import Meter
from kanalwerk.translate.openai import (
    ChatClient,
    ChatSettings,
    api_key,
    decode_json_answer,
)

log = logging.getLogger(__name__)

#: Tags the model may use in `body_html`; anything else makes the answer invalid.
ARTICLE_TAGS: frozenset[str] = frozenset(
    {"h2", "h3", "p", "ul", "ol", "li", "strong", "em", "blockquote", "a"}
)
#: Tolerated although not asked for: harmless line breaks.
TOLERATED_TAGS: frozenset[str] = frozenset({"br"})
MAX_TITLE_CHARS = 200
MAX_TEASER_CHARS = 800
#: Bump to invalidate every cached article (e.g. when validation becomes stricter).
KEY_VERSION = "1"
CACHE_FORMAT = "article"
#: Appended to the engine name an `Article` records, so written and translated ones differ.
ARTICLE_MODE_SUFFIX = "-article"

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
_PLACEHOLDER = re.compile(r"\{(channel|title|kind|glossary)\}")
_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")
_BARE_URL = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""")
_QUOTES = {'"': '"', "„": "“", "“": "”", "«": "»", "»": "«", "'": "'", "‚": "‘"}
_ATTRIBUTION = re.compile(r"hinweis zur quelle", re.IGNORECASE)


@dataclass(frozen=True)
class ArticleRequest:
    title: str  # original title (plain text)
    source_html: str  # sanitized original body (for YouTube: description as HTML)
    source_lang: str  # "en" or "auto"
    channel_name: str
    link: str | None  # the original's URL
    is_video: bool
    glossary: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WrittenArticle:
    title: str  # German headline, plain text
    teaser: str  # German, plain text, 1–3 sentences
    body_html: str  # validated, sanitized HTML, allowed tags only
    engine: str  # "openai"
    model: str | None
    usage: Usage


class ArticleWriter(Protocol):
    """What the pipeline needs from an article writer; `OpenAIArticleWriter` is the one."""

    @property
    def engine(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    def write(self, request: ArticleRequest) -> WrittenArticle: ...

    def close(self) -> None: ...


def article_engine(engine: str) -> str:
    """The engine name an article written in article mode records, e.g. "openai-article"."""
    return engine + ARTICLE_MODE_SUFFIX


def cost_usd(usage: Usage, price_in: float | None, price_out: float | None) -> float | None:
    """Dollars for `usage` at prices per million tokens; None when no price is configured.

    A price that is not set counts as free, so configuring only one still gives a figure.
    """
    if price_in is None and price_out is None:
        return None
    return (
        usage.prompt_tokens * (price_in or 0.0) + usage.completion_tokens * (price_out or 0.0)
    ) / 1_000_000


def describe_usage(usage: Usage, price_in: float | None, price_out: float | None) -> str:
    """Log text like "2 request(s), 1234 tokens, $0.0012"; the cost only when prices are set."""
    tokens = usage.prompt_tokens + usage.completion_tokens
    text = f"{usage.requests} request(s), {tokens} tokens"
    cost = cost_usd(usage, price_in, price_out)
    return text if cost is None else f"{text}, ${cost:.4f}"


# -- the prompt ---------------------------------------------------------------------------


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


_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "aside", "main", "nav",
        "blockquote", "pre", "figure", "figcaption", "table", "ul", "ol", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "details", "summary",
    }
)  # fmt: skip
_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "title"})
_PARAGRAPH = "\x00"  # paragraph break marker while collecting text


class _Reader(HTMLParser):
    """HTML → readable text: paragraphs, "- " list items, links as "text (URL)"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[tuple[str | None, int]] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS or tag == "tr":
            self.parts.append(_PARAGRAPH if tag != "tr" else "\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append(_PARAGRAPH)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append(_PARAGRAPH)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            text = collapse_whitespace("".join(self.parts[start:]).replace(_PARAGRAPH, " "))
            if href:
                shown = href if not text or text == href else f"{text} ({href})"
                self.parts[start:] = [shown]

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def source_text(html: str) -> str:
    """The source as the model reads it: paragraphs split by blank lines, links kept."""
    if "<" not in html:  # plain text: its line breaks are meant
        raw = html.replace("\r\n", "\n").replace("\n\n", _PARAGRAPH)
    else:
        reader = _Reader()
        reader.feed(html)
        reader.close()
        raw = "".join(reader.parts)
    paragraphs = []
    for chunk in raw.split(_PARAGRAPH):
        lines = [collapse_whitespace(line) for line in chunk.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def truncate_source(text: str, max_chars: int) -> tuple[str, int]:
    """`text` cut to at most `max_chars` at a paragraph boundary, and how much was left out.

    A first paragraph longer than the limit is cut after its last sentence (or word) that fits.
    """
    if len(text) <= max_chars:
        return text, 0
    kept = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{kept}\n\n{paragraph}" if kept else paragraph
        if len(candidate) > max_chars:
            break
        kept = candidate
    if not kept:
        head = text[:max_chars]
        cut = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
        kept = head[: cut + 1] if cut > max_chars // 2 else head.rsplit(None, 1)[0]
    return kept, len(text) - len(kept)


def source_message(request: ArticleRequest, max_chars: int) -> tuple[str, int]:
    """The user message carrying the source, and how many source characters it holds."""
    text, omitted = truncate_source(source_text(request.source_html), max_chars)
    lines = [
        f"Originaltitel: {request.title}",
        f"Kanal: {request.channel_name}",
        f"Art: {kind_of(request)}",
    ]
    language = _SOURCE_LANGUAGES.get(request.source_lang.lower())
    if language:
        lines.append(f"Sprache der Vorlage: {language}")
    what = "Transkript bzw. Beschreibung des Videos" if request.is_video else "Inhalt des Beitrags"
    lines += ["", f"Vorlage ({what}):", "", text or "(kein Text, nur der Titel)"]
    if omitted:
        count = f"{omitted:,}".replace(",", ".")
        lines += [
            "",
            f"[Die Vorlage ist hier gekürzt; {count} Zeichen fehlen. "
            "Schreibe nur über den Teil oben.]",
        ]
    lines += ["", "Antworte mit dem JSON-Objekt."]
    return "\n".join(lines), len(text)


# -- validation ---------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """Compare URLs without caring about a trailing slash or the case of scheme and host."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def source_links(source_html: str, extra: Iterable[str | None] = ()) -> set[str]:
    """Normalised URLs the source links to or mentions in its text, plus `extra` ones."""
    found: set[str] = {normalise_url(url) for url in extra if url}

    class _Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href:
                found.add(normalise_url(href))

    parser = _Links(convert_charrefs=True)
    parser.feed(source_html)
    parser.close()
    for match in _BARE_URL.finditer(html_to_text(source_html) or source_html):
        found.add(normalise_url(match.group(0).rstrip(".,;:!?")))
    return found


class _BodyCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad_tags: list[str] = []
        self.links: list[str] = []
        self.paragraphs = 0
        self.anchor_without_href = False
        self.first_block: list[str] | None = None
        self._first_done = False

    def _tag(self, tag: str) -> None:
        if tag not in ARTICLE_TAGS | TOLERATED_TAGS and tag not in self.bad_tags:
            self.bad_tags.append(tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag)
        if tag == "p":
            self.paragraphs += 1
        if tag in ("h2", "h3", "p") and self.first_block is None:
            self.first_block = []
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip():
                self.links.append(href.strip())
            else:
                self.anchor_without_href = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag)
        if tag in ("h2", "h3", "p") and self.first_block is not None:
            self._first_done = True

    def handle_data(self, data: str) -> None:
        if self.first_block is not None and not self._first_done:
            self.first_block.append(data)


def _field(data: Mapping[str, Any], name: str) -> str:
    if name not in data:
        raise ArticleInvalid(f'the answer has no "{name}" field')
    value = data[name]
    if not isinstance(value, str):
        raise ArticleInvalid(f'the "{name}" field is not a string')
    if not value.strip():
        raise ArticleInvalid(f'the "{name}" field is empty')
    return value.strip()


def _plain(name: str, value: str) -> str:
    if _TAG_LIKE.search(value):
        raise ArticleInvalid(f"the {name} contains HTML tags; it must be plain text")
    text = collapse_whitespace(value)
    opening, closing = text[:1], text[-1:]
    inner = text[1:-1]
    if len(text) > 2 and _QUOTES.get(opening) == closing and not {opening, closing} & set(inner):
        text = inner.strip()  # a headline wrapped in quotes as a whole
    return text


def _comparable(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().casefold()


def validate_article(
    data: object, *, source_html: str, link: str | None = None
) -> tuple[str, str, str]:
    """`(title, teaser, body_html)` from a model's parsed answer, or `ArticleInvalid` why not.

    Links must point to URLs in the source or to the original itself (`link`).

    Strict on purpose: a disallowed tag or an unknown link is rejected rather than
    stripped, because it shows the model ignored the rules and may have ignored others.
    """
    if not isinstance(data, dict):
        raise ArticleInvalid("the answer is not a JSON object")
    title = _plain("title", _field(data, "title"))
    teaser = _plain("teaser", _field(data, "teaser"))
    body = _field(data, "body_html")
    if not title:
        raise ArticleInvalid('the "title" field is empty')
    if len(title) > MAX_TITLE_CHARS:
        raise ArticleInvalid(
            f"the title has {len(title)} characters; at most {MAX_TITLE_CHARS} are allowed"
        )
    if len(teaser) > MAX_TEASER_CHARS:
        raise ArticleInvalid(
            f"the teaser has {len(teaser)} characters; write 1–3 sentences "
            f"(at most {MAX_TEASER_CHARS} characters)"
        )

    check = _BodyCheck()
    check.feed(body)
    check.close()
    if check.bad_tags:
        shown = ", ".join(f"<{tag}>" for tag in check.bad_tags)
        allowed = ", ".join(f"<{tag}>" for tag in sorted(ARTICLE_TAGS))
        raise ArticleInvalid(f"body_html uses {shown}, not allowed; use only {allowed}")
    if check.paragraphs == 0:
        raise ArticleInvalid("body_html has no <p> paragraph")
    if check.anchor_without_href:
        raise ArticleInvalid("body_html has an <a> without href")
    known = source_links(source_html, [link])
    for href in check.links:
        if normalise_url(href) not in known:
            raise ArticleInvalid(
                f"body_html links to {href[:200]}, which is not in the source (invented link); "
                "link only URLs that appear in the source"
            )
    body_text = html_to_text(body)
    if not body_text:
        raise ArticleInvalid("body_html has no text")
    if check.first_block is not None and _comparable("".join(check.first_block)) == _comparable(
        title
    ):
        raise ArticleInvalid("body_html repeats the headline; start with the article itself")
    if _ATTRIBUTION.search(body_text):
        raise ArticleInvalid("body_html contains a source note; kanalwerk adds it itself")
    language = detect_language(f"{title}\n{teaser}\n{body_text}")
    if language is not None and language != "de":
        raise ArticleInvalid(f"the article is not in German (detected language: {language})")
    clean = sanitize_html(body)
    if not html_to_text(clean):
        raise ArticleInvalid("body_html has no text left after sanitizing")
    return title, teaser, clean


# -- the writer ---------------------------------------------------------------------------


def article_key(template: str, request: ArticleRequest, max_source_chars: int) -> str:
    """Cache key of a finished article: everything that shapes what the model is asked."""
    payload = json.dumps(
        [
            KEY_VERSION,
            template,
            request.title,
            request.source_html,
            request.source_lang,
            request.channel_name,
            request.link,
            request.is_video,
            sorted([source, target] for source, target in request.glossary),
            max_source_chars,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class OpenAIArticleWriter:
    """Writes German articles through `POST {base_url}/chat/completions` in JSON mode."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        temperature: float | None = 0.4,
        prompt_template: str | None = None,
        max_source_chars: int = 24000,
        cache: TranslationCache | None = None,
        max_tokens: int | None = None,
        meter: Meter | None = None,
        **chat: Unpack[ChatSettings],
    ):
        chat.setdefault("timeout", 180.0)  # writing a whole article takes longer
        self._chat = ChatClient(base_url=base_url, model=model, api_key=api_key, **chat)
        self._model = model
        self._temperature = temperature
        self._template = prompt_template or DEFAULT_ARTICLE_PROMPT
        self._max_source_chars = max_source_chars
        self._max_tokens = max_tokens
        self._cache = cache
        self._meter = meter

    @classmethod
    def from_env(cls, api_key_env: str | None, **kw: Any) -> OpenAIArticleWriter:
        """Build with the key from the environment variable `api_key_env` (None: no key)."""
        return cls(api_key=api_key(api_key_env, kw.get("base_url")), api_key_env=api_key_env, **kw)

    @property
    def engine(self) -> str:
        return "openai"

    @property
    def model(self) -> str | None:
        return self._model

    def close(self) -> None:
        self._chat.close()

    def write(self, request: ArticleRequest) -> WrittenArticle:
        """The German article for `request`; `TranslationError` (or `ArticleInvalid`) if none.

        A cached article costs nothing and is returned even when the budget is spent.
        """
        key = article_key(self._template, request, self._max_source_chars)
        cached = self._cached(request, key)
        if cached is not None:
            return cached
        user, characters = source_message(request, self._max_source_chars)
        if self._meter is not None:
            self._meter.check(self.engine, characters, needed_for=" for an article")
        messages: list[dict[str, str]] = [
            {"role": "system", "content": render_article_prompt(self._template, request)},
            {"role": "user", "content": user},
        ]
        usage = Usage()
        for attempt in (1, 2):
            reply = self._chat.complete(
                messages,
                characters=characters,
                temperature=self._temperature,
                max_tokens=self._max_tokens,
            )
            usage = usage + reply.usage
            if self._meter is not None:
                self._meter.record(self.engine, self._model, reply.usage)
            if reply.context_exceeded:
                raise self._invalid(
                    "the source exceeds the model's context; lower max_source_chars", usage
                )
            if reply.finish_reason == "length":
                raise self._invalid(
                    "answer truncated; raise max tokens or shorten the source", usage
                )
            try:
                if reply.content is None:
                    raise ArticleInvalid("the answer has no content")
                try:
                    data = decode_json_answer(reply.content)
                except ValueError as exc:
                    raise ArticleInvalid("the answer is not JSON") from exc
                title, teaser, body = validate_article(
                    data, source_html=request.source_html, link=request.link
                )
            except ArticleInvalid as exc:
                if attempt == 2:
                    raise self._invalid(exc.reason, usage, after=attempt) from exc
                log.warning("%s: unusable article (%s); asking again", self._chat.label, exc.reason)
                messages += [
                    {"role": "assistant", "content": reply.content or ""},
                    {"role": "user", "content": correction(exc.reason)},
                ]
                continue
            self._store(request, key, title, teaser, body)
            return WrittenArticle(title, teaser, body, self.engine, self._model, usage)
        raise AssertionError("unreachable")  # pragma: no cover

    def _invalid(self, reason: str, usage: Usage, *, after: int = 0) -> ArticleInvalid:
        attempts = f" after {after} attempts" if after else ""
        return ArticleInvalid(
            reason,
            message=f"{self._chat.label} wrote no usable article{attempts}: {reason}",
            usage=usage,
        )

    def _cached(self, request: ArticleRequest, key: str) -> WrittenArticle | None:
        if self._cache is None:
            return None
        found = self._cache.get(
            self.engine, self._model, request.source_lang, "de", CACHE_FORMAT, [key]
        )
        try:
            data = json.loads(found[key])
            title, teaser, body = (data[name] for name in ("title", "teaser", "body_html"))
        except (KeyError, ValueError, TypeError):
            return None  # absent or unreadable: write it afresh
        if not all(isinstance(value, str) and value for value in (title, teaser, body)):
            return None
        return WrittenArticle(title, teaser, body, self.engine, self._model, Usage())

    def _store(self, request: ArticleRequest, key: str, title: str, teaser: str, body: str) -> None:
        if self._cache is None:
            return
        value = json.dumps(
            {"title": title, "teaser": teaser, "body_html": body}, ensure_ascii=False
        )
        self._cache.put(
            self.engine, self._model, request.source_lang, "de", CACHE_FORMAT, {key: value}
        )


def correction(reason: str) -> str:
    """The follow-up that sends a faulty answer back to the model."""
    return (
        f"Diese Antwort ist so nicht verwendbar: {reason}. Schicke das vollständige, "
        'korrigierte JSON-Objekt {"title": "…", "teaser": "…", "body_html": "…"} '
        "nach denselben Regeln, auf Deutsch und ohne weiteren Text."
    )
