"""Long sources condensed into notes, part by part (map), before the article is written.

A 40-minute transcript does not fit one request, and cutting it loses its end. So a
source longer than `article_max_source_chars` is split at paragraph, else sentence,
else word boundaries into balanced parts; each part is condensed into notes that keep
its facts, numbers, names and order; the article is then written from all notes joined
(the reduce, in `writer`). Notes that are still too long are condensed once more.

The notes stay in the source's language. Writing them in German would cost more
(German runs 20–30 % longer than English and needs more tokens per word; notes are
output tokens, the dearest kind) and would translate every fact twice, once into the
notes and once more into the article. In the source's language, names and quotes reach
the writer as they were said, and the writer does what it does with a short source:
write German from the original.

Each part's notes are cached under the part's text, the model and this module's prompt,
as soon as they arrive: a re-run, or a run resumed after the budget ran out half-way,
pays only for parts never condensed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from kanalwerk.errors import ArticleInvalid
from kanalwerk.models import Usage
from kanalwerk.translate.article.base import describe_usage
from kanalwerk.translate.cache import CacheScope, TranslationCache
from kanalwerk.translate.meter import Meter
from kanalwerk.translate.openai import ChatReply, decode_json_answer
from kanalwerk.translate.sentences import split_sentences

log = logging.getLogger(__name__)

#: Notes are asked for at about this share of a part's length: with the parts sent
#: once, each source character goes out about 1.15 times in all (map + reduce).
NOTES_RATIO = 0.15
#: Fewest characters of notes asked for one part, however short it is.
MIN_NOTES_CHARS = 300
#: Notes at least this share of their part's length did not condense it.
MAX_NOTES_SHARE = 0.9
#: Rounds of condensing notes that are still too long; one is almost always enough.
MAX_LEVELS = 3
#: Bump to condense every cached part anew (e.g. when the answer's format changes).
NOTES_VERSION = "1"
CACHE_FORMAT = "article-notes"

NOTES_PROMPT = """\
You condense one part of a longer source (a video transcript, a podcast or a web article) \
into notes. An editor will write a German news article about the whole source from the \
notes of all its parts, without seeing the source itself.

Rules:
- Write the notes in the language of the source text. Do not translate.
- Keep every fact, number, amount, date, name, product, quote and claim that matters, \
exactly as the source states it, in the order the source says it.
- Add nothing: no background, no opinions and no conclusions the source does not state.
- Leave out greetings, filler, repetitions, sponsor messages and calls to subscribe.
- Keep URLs the text mentions exactly as written.
- Stay within the length given with the text.

Answer ONLY with a JSON object {"notes": ["…", "…"]}: one short note per statement, in the \
order of the source. No comments, no Markdown, no code fences."""


@dataclass(frozen=True)
class Condensed:
    """A long source as notes: one tuple of notes per part of the last round, in order."""

    parts: tuple[tuple[str, ...], ...]
    source_chars: int  # length of the source text that was condensed
    levels: int  # rounds of condensing (2: the notes were condensed once more)
    usage: Usage  # what this call paid; cached parts cost nothing

    def text(self) -> str:
        return notes_text(self.parts)


def notes_text(parts: tuple[tuple[str, ...], ...]) -> str:
    """Notes as the next round or the writer reads them: one line per note, parts apart."""
    return "\n\n".join("\n".join(f"- {note}" for note in notes) for notes in parts if notes)


def split_parts(text: str, max_chars: int) -> list[str]:
    """`text` in parts of at most `max_chars`, about equally long, cut where text breaks.

    Cuts fall between paragraphs, else between sentences, else between words; only a
    word longer than `max_chars` is cut inside. The parts depend on the text alone, so
    the same source always gives the same parts (and the same cache keys).
    """
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    pieces = [p for paragraph in text.split("\n\n") for p in _fit(paragraph.strip(), max_chars)]
    count = math.ceil(len(text) / max_chars)
    target = len(text) / count
    parts: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}\n\n{piece}" if current else piece
        if current and (len(joined) > max_chars or len(current) >= target):
            parts.append(current)
            joined = piece
        current = joined
    if current:
        parts.append(current)
    return parts


def _fit(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph as pieces of at most `max_chars`: whole, else sentences, else words."""
    if len(paragraph) <= max_chars:
        return [paragraph] if paragraph else []
    pieces: list[str] = []
    for sentence in split_sentences(paragraph):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    # Sentences go back together up to the limit, so a paragraph is not a heap of crumbs.
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) + 1 + len(piece) <= max_chars:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def notes_chars(part_chars: int, total_chars: int, max_source_chars: int) -> int:
    """How long one part's notes may be, so all notes together fit one article request."""
    share = min(NOTES_RATIO, 0.8 * max_source_chars / max(total_chars, 1))
    return max(MIN_NOTES_CHARS, int(part_chars * share))


def notes_message(part: str, target: int) -> str:
    """The user message for one part: the length asked for, then the part itself."""
    return f"Length: at most about {target} characters of notes.\n\nText:\n\n{part}"


def parse_notes(content: str | None, part_chars: int) -> tuple[str, ...]:
    """The notes in a model's answer; `ArticleInvalid` says what is wrong with it."""
    if content is None:
        raise ArticleInvalid("the answer has no content")
    try:
        data = decode_json_answer(content)
    except ValueError as exc:
        raise ArticleInvalid("the answer is not JSON") from exc
    notes = data.get("notes") if isinstance(data, dict) else None
    if isinstance(notes, str):
        notes = notes.splitlines()
    if not isinstance(notes, list) or not all(isinstance(note, str) for note in notes):
        raise ArticleInvalid('the answer has no "notes" list of strings')
    kept = tuple(" ".join(note.split()).removeprefix("- ") for note in notes)
    kept = tuple(note for note in kept if note)
    length = len(notes_text((kept,)))
    if part_chars >= 2 * MIN_NOTES_CHARS and length >= MAX_NOTES_SHARE * part_chars:
        raise ArticleInvalid(
            f"the notes have {length:,} characters for a text of {part_chars:,}; "
            "condense the text, keeping only what matters"
        )
    return kept


def notes_correction(reason: str) -> str:
    return (
        f"This answer cannot be used: {reason}. Send the complete, corrected JSON object "
        '{"notes": ["…"]} following the same rules, without any other text.'
    )


def notes_key(part: str, target: int) -> str:
    """Cache key of one part's notes: the part, the length asked for and the prompt."""
    payload = json.dumps(
        [NOTES_VERSION, NOTES_PROMPT, part, target], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


#: Sends one chat request: messages and the source characters they carry → the reply.
Complete = Callable[[list[dict[str, str]], int], ChatReply]


class Condenser:
    """Condenses long sources for one engine and model, through its cache and meter."""

    def __init__(
        self,
        complete: Complete,
        *,
        engine: str,
        model: str | None,
        label: str,
        max_source_chars: int,
        cache: TranslationCache | None = None,
        meter: Meter | None = None,
        prices: tuple[float | None, float | None] = (None, None),
    ):
        self._complete = complete
        self._engine = engine
        self._model = model
        self._label = label
        self._max_chars = max_source_chars
        self._cache = cache
        self._meter = meter
        self._prices = prices

    def condense(self, text: str, source_lang: str) -> Condensed:
        """Notes of `text`, condensed until they fit `max_source_chars`.

        Raises what a request raises (`BudgetExhausted` before a part the budget has no
        room for; parts done until then stay cached) and `ArticleInvalid` when a part's
        notes come out unusable twice or stop getting shorter.
        """
        usage = Usage()
        scope = CacheScope(self._engine, self._model, source_lang, source_lang, CACHE_FORMAT)
        current = text
        for level in range(1, MAX_LEVELS + 1):
            parts = split_parts(current, self._max_chars)
            notes: list[tuple[str, ...]] = []
            for number, part in enumerate(parts, start=1):
                target = notes_chars(len(part), len(current), self._max_chars)
                found, paid = self._part(scope, part, target, f"part {number} of {len(parts)}")
                notes.append(found)
                usage = usage + paid
            condensed = Condensed(tuple(notes), len(text), level, usage)
            joined = condensed.text()
            if len(joined) <= self._max_chars:
                return condensed
            if len(joined) >= MAX_NOTES_SHARE * len(current):
                break
            current = joined
        raise ArticleInvalid(
            f"the notes still have {len(joined):,} characters after {level} round(s) of "
            "condensing; raise article_max_source_chars",
            spent=describe_usage(usage, *self._prices),
        )

    def _part(
        self, scope: CacheScope, part: str, target: int, which: str
    ) -> tuple[tuple[str, ...], Usage]:
        """One part's notes: from the cache for free, else asked for (and cached at once)."""
        key = notes_key(part, target)
        if self._cache is not None:
            cached = _cached_notes(self._cache.get(scope, [key]).get(key))
            if cached is not None:
                return cached, Usage()
        if self._meter is not None:
            self._meter.check(self._engine, len(part), needed_for=f" for notes on {which}")
        messages = [
            {"role": "system", "content": NOTES_PROMPT},
            {"role": "user", "content": notes_message(part, target)},
        ]
        usage = Usage()
        for attempt in (1, 2):
            reply = self._complete(messages, len(part))
            usage = usage + reply.usage
            if self._meter is not None:
                self._meter.record(self._engine, self._model, reply.usage)
            try:
                if reply.context_exceeded:
                    raise ArticleInvalid(
                        "a part exceeds the model's context; lower article_max_source_chars"
                    )
                if reply.finish_reason == "length":
                    raise ArticleInvalid("notes truncated; raise article_max_tokens")
                notes = parse_notes(reply.content, len(part))
            except ArticleInvalid as exc:
                if attempt == 2 or reply.context_exceeded or reply.finish_reason == "length":
                    raise ArticleInvalid(
                        exc.reason,
                        message=f"{self._label} gave no usable notes on {which}: {exc.reason}",
                        spent=describe_usage(usage, *self._prices),
                    ) from exc
                log.warning("%s: unusable notes on %s (%s); asking again", self._label, which, exc)
                messages += [
                    {"role": "assistant", "content": reply.content or ""},
                    {"role": "user", "content": notes_correction(exc.reason)},
                ]
                continue
            if self._cache is not None:
                self._cache.put(scope, {key: json.dumps(list(notes), ensure_ascii=False)})
            log.debug(
                "%s: notes on %s (%s characters): %s",
                self._label,
                which,
                len(part),
                describe_usage(usage, *self._prices),
            )
            return notes, usage
        raise AssertionError("unreachable")  # pragma: no cover


def _cached_notes(value: str | None) -> tuple[str, ...] | None:
    try:
        notes = json.loads(value) if value is not None else None
    except ValueError:
        return None  # unreadable: condense the part afresh
    if not isinstance(notes, list) or not all(isinstance(note, str) for note in notes):
        return None
    return tuple(notes)
