"""What article mode exchanges: the request, the written article, the writer contract, cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kanalwerk.models import Usage

#: Appended to the engine name an `Article` records, so written and translated ones differ.
ARTICLE_MODE_SUFFIX = "-article"


@dataclass(frozen=True)
class ArticleRequest:
    title: str  # original title (plain text)
    source_html: str  # sanitized original body (for YouTube: description as HTML)
    source_lang: str  # "en" or "auto"
    channel_name: str
    link: str | None  # the original's URL
    is_video: bool
    glossary: tuple[tuple[str, str], ...] = ()
    #: What the source is, in German for the prompt ("Transkript des Videos"); None: the
    #: item's own text (a video's description, a post's content).
    source_label: str | None = None


@dataclass(frozen=True)
class WrittenArticle:
    title: str  # German headline, plain text
    teaser: str  # German, plain text, 1–3 sentences
    body_html: str  # validated, sanitized HTML, allowed tags only
    engine: str  # "openai"
    model: str | None
    usage: Usage  # everything paid for this article, notes included
    #: The part of `usage` paid for notes on a long source.
    notes_usage: Usage = field(default_factory=Usage)
    parts: int = 0  # parts a long source was condensed in; 0: written from the whole


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


def describe_written(
    written: WrittenArticle, price_in: float | None, price_out: float | None
) -> str:
    """What an article cost, each step on its own when a long source was condensed first.

    Like "notes on 4 parts: 4 request(s), 9000 tokens; article: 1 request(s), 2500
    tokens; total $0.0031"; for an article from the whole source as `describe_usage`.
    """
    if not written.parts:
        return describe_usage(written.usage, price_in, price_out)
    notes = written.notes_usage
    article = Usage(
        written.usage.requests - notes.requests,
        written.usage.characters - notes.characters,
        written.usage.prompt_tokens - notes.prompt_tokens,
        written.usage.completion_tokens - notes.completion_tokens,
    )
    cost = cost_usd(written.usage, price_in, price_out)
    text = (
        f"notes on {written.parts} part(s): {describe_usage(notes, None, None)}; "
        f"article: {describe_usage(article, None, None)}"
    )
    return text if cost is None else f"{text}; total ${cost:.4f}"
