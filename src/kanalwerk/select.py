"""Which new items become articles: rules, Shorts, premieres, duplicates and backfill.

Pure: the items of one poll, the channel's rules and what the store knows about them
go in; one `Decision` per item that needs one comes out. An item is taken ("new", it
gets translated), skipped for good with the reason shown by `kanalwerk items
--skipped`, or held (a premiere or live stream that has not aired yet) and decided
again on a later poll. Decisions are made once per item: a rule changed later applies
to items that arrive later.

In order, the first that applies decides:

1. Shorts, unless the channel sets `shorts: true`;
2. `exclude`, `include`, `min_duration`/`max_duration`, `languages`;
3. a premiere or live stream that has not aired yet is held;
4. an original another channel already brought (within one channel a changed guid is
   the store's business, see store/guids.py; items sharing a link there are distinct);
5. backfill: of the items a channel brings the first time, only the newest
   `backfill` are taken (older ones are skipped as "backfill" before 1-4 are asked);
   an original stored before under any channel, in any state, counts as one of them.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import regex

from kanalwerk.models import Item
from kanalwerk.sanitize import html_to_text
from kanalwerk.sources.youtube import is_shorts_link, video_id_from_url
from kanalwerk.translate.language import choose_source_language, normalise_language

__all__ = [
    "Decision",
    "Facts",
    "Matcher",
    "Rules",
    "compile_matcher",
    "decide",
    "format_seconds",
    "origin_key",
]

log = logging.getLogger(__name__)

State = Literal["new", "skipped", "held"]
Field = Literal["title", "text", "category", "title or text"]

BACKFILL_REASON = "backfill"
SHORTS_REASON = "Shorts"
UPCOMING_REASON = "premiere or live stream, not aired yet"


@dataclass(frozen=True)
class Matcher:
    """One include/exclude entry: a keyword or a `/regex/`, on one field of an item."""

    field: Field
    written: str  # as in feeds.yaml, for the reason shown to the user
    pattern: regex.Pattern[str]

    def matches(self, texts: _Texts) -> bool:
        """Raises TimeoutError when a pattern runs away on this text (see `_matches`)."""
        if self.field == "category":
            return any(self._search(c) for c in texts.categories)
        if self.field == "title":
            return self._search(texts.title)
        if self.field == "text":
            return self._search(texts.text)
        return self._search(texts.title) or self._search(texts.text)

    def _search(self, text: str) -> bool:
        return self.pattern.search(text, timeout=REGEX_TIMEOUT) is not None


# Seconds one search may take. A user's regex meets untrusted feed text: `/(a|aa)+$/`
# would otherwise block the daemon for minutes on a title of 40 characters.
REGEX_TIMEOUT = 0.2

_REGEX = re.compile(r"/(.+)/([A-Za-z]*)", re.DOTALL)
_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}


def compile_matcher(field: Field, written: str) -> Matcher:
    """A keyword (whole words, any case) or `/regex/flags` (any case); ValueError if neither.

    Keywords match whole words in any script: "AI" matches "AI-Boom" and "KI und AI",
    not "said"; spaces inside a keyword match any run of white space. A regex takes the
    flags i, m, s and x after its closing slash. Both are compared in Unicode form NFC.
    """
    text = unicodedata.normalize("NFC", written.strip())
    if not text:
        raise ValueError("is empty; write a keyword or a /regex/")
    if (found := _REGEX.fullmatch(text)) is not None:
        flags = regex.IGNORECASE | regex.VERSION0
        for letter in found[2]:
            if letter not in _FLAGS:
                raise ValueError(
                    f"{text!r}: unknown regex flag {letter!r}; use i, m, s or x after the "
                    "closing slash"
                )
            flags |= _FLAGS[letter]
        try:
            return Matcher(field, text, regex.compile(found[1], flags))
        except regex.error as exc:
            raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
    words = r"\s+".join(regex.escape(word) for word in text.split())
    return Matcher(field, text, regex.compile(rf"(?<!\w){words}(?!\w)", regex.IGNORECASE))


@dataclass(frozen=True)
class Rules:
    """A channel's selection rules, with the global `selection:` applied (see config)."""

    backfill: int | None = 3  # None: a new channel takes every item
    include: tuple[Matcher, ...] = ()
    exclude: tuple[Matcher, ...] = ()
    min_duration: int | None = None  # seconds
    max_duration: int | None = None
    languages: frozenset[str] = frozenset()
    shorts: bool = False
    channel_language: str | None = None  # the channel's `language:`, stronger than the feed's
    default_language: str | None = None  # `translator.source_language`


@dataclass(frozen=True)
class Facts:
    """What the store knows that a decision depends on."""

    first_time: bool  # the channel has never stored an item
    states: Mapping[str, str] = field(default_factory=dict)  # guid → state, this channel
    # origin key → (channel name, channel id, guid) of the item that brought it first,
    # among items not skipped.
    claimed: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    # While backfilling: origins stored under any channel in any state, skipped ones
    # too. A renamed channel (a new id) must not publish what backfill skipped before.
    known: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    item: Item
    state: State
    reason: str | None  # why it was skipped or held
    origin: str | None  # origin_key(item)


@dataclass(frozen=True)
class _Texts:
    title: str
    text: str
    categories: tuple[str, ...]


def _matches(channel_id: str, rule: str, matcher: Matcher, texts: _Texts) -> bool:
    """`matcher.matches`; a runaway regex counts as no match, with a warning."""
    try:
        return matcher.matches(texts)
    except TimeoutError:
        shown = texts.title if len(texts.title) <= 60 else texts.title[:59] + "…"
        log.warning(
            "%s: %s %s took too long on %r; counted as no match",
            channel_id,
            rule,
            matcher.written,
            shown,
        )
        return False


def decide(
    channel_id: str,
    items: Sequence[Item],
    rules: Rules,
    facts: Facts,
    *,
    home: str | None = None,
) -> list[Decision]:
    """A decision for each item not stored yet or held, in input order.

    `home` is the feed's own site link: an item linking there (a podcast episode
    pointing at the show page) names no original of its own.

    While backfilling, items are decided newest first, and once `backfill` are taken the
    older ones are skipped as "backfill" without reading them: a new channel's 500 old
    posts cost no language detection.
    """
    open_items = [
        i for i in _unique(items) if i.guid not in facts.states or facts.states[i.guid] == "held"
    ]
    quota = rules.backfill if facts.first_time else None
    decisions: dict[str, Decision] = {}
    home_key = link_key(home)
    taken = 0
    for item in _newest_first(open_items) if quota is not None else open_items:
        origin = origin_key(item)
        if origin is not None and origin == home_key:
            origin = None
        if quota is not None and taken >= quota:
            decisions[item.guid] = Decision(item, "skipped", BACKFILL_REASON, origin)
            continue
        if quota is not None and origin is not None and origin in facts.known:
            claim = facts.claimed.get(origin)
            why = f"duplicate of {claim[0]}" if claim is not None else BACKFILL_REASON
            decisions[item.guid] = Decision(item, "skipped", why, origin)
            taken += 1  # decided before: it counts against the quota like a taken item
            continue
        state, reason = _decide_one(channel_id, item, origin, rules, facts)
        decisions[item.guid] = Decision(item, state, reason, origin)
        if state == "new":
            taken += 1
    return [decisions[item.guid] for item in open_items]


def _decide_one(
    channel_id: str, item: Item, origin: str | None, rules: Rules, facts: Facts
) -> tuple[State, str | None]:
    reason = _rule_reason(channel_id, item, rules)
    if reason is not None:
        return "skipped", reason
    if _not_aired(item):
        return "held", UPCOMING_REASON
    claim = facts.claimed.get(origin) if origin else None
    if claim is not None and claim[1] != channel_id:
        return "skipped", f"duplicate of {claim[0]}"
    return "new", None


def _unique(items: Sequence[Item]) -> list[Item]:
    first: dict[str, Item] = {}
    for item in items:
        first.setdefault(item.guid, item)
    return list(first.values())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _newest_first(items: Sequence[Item]) -> list[Item]:
    """Newest first; undated items keep the feed's order (most feeds list newest first)."""
    return sorted(items, key=lambda i: i.published or i.updated or _EPOCH, reverse=True)


def _rule_reason(channel_id: str, item: Item, rules: Rules) -> str | None:
    if not rules.shorts and is_shorts_link(item.link):
        return SHORTS_REASON
    reads_text = any(m.field in ("text", "title or text") for m in (*rules.exclude, *rules.include))
    texts = _Texts(
        _nfc(item.title),
        _nfc(_text(item)) if reads_text else "",
        tuple(_nfc(c) for c in item.categories),
    )
    for matcher in rules.exclude:
        if _matches(channel_id, "exclude", matcher, texts):
            return f"exclude: {matcher.field} matches '{matcher.written}'"
    if rules.include and not any(_matches(channel_id, "include", m, texts) for m in rules.include):
        words: dict[str, list[str]] = {}
        for m in rules.include:
            words.setdefault(m.field, []).append(f"'{m.written}'")
        shown = "; ".join(f"{name} {', '.join(listed)}" for name, listed in words.items())
        return f"include: matches none of {shown}"
    if item.duration is not None:
        if rules.min_duration is not None and item.duration < rules.min_duration:
            return (
                f"min_duration: {format_seconds(item.duration)} is shorter than "
                f"{format_seconds(rules.min_duration)}"
            )
        if rules.max_duration is not None and item.duration > rules.max_duration:
            return (
                f"max_duration: {format_seconds(item.duration)} is longer than "
                f"{format_seconds(rules.max_duration)}"
            )
    if rules.languages:
        language = _language(item, rules)
        if language is not None and language not in rules.languages:
            return f"languages: {language} is not one of {', '.join(sorted(rules.languages))}"
    return None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _text(item: Item) -> str:
    body = html_to_text(item.content_html)
    if item.summary_html and item.summary_html != item.content_html:
        body += "\n" + html_to_text(item.summary_html)
    return body


def _language(item: Item, rules: Rules) -> str | None:
    """The item's language as translation will see it; None when it cannot be told."""
    choice = choose_source_language(
        channel=rules.channel_language,
        declared=item.language,
        title=item.title,
        body_html=item.content_html or item.summary_html,
        default=rules.default_language,
    )
    return normalise_language(choice.code)


def _not_aired(item: Item) -> bool:
    """A YouTube video nobody has watched yet: a premiere or stream still to come.

    YouTube's feed lists scheduled premieres and live streams like uploads; the one
    sign it gives is `media:statistics views="0"` until the video can be watched. A
    brand-new upload can show 0 for a moment too; holding it costs one poll, not the item.
    """
    return item.video_id is not None and item.views == 0


# --- duplicates ---------------------------------------------------------------------

_TRACKING = re.compile(r"utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref_src", re.IGNORECASE)


def origin_key(item: Item) -> str | None:
    """What makes two items the same original: the YouTube video, else the link.

    Links compare without scheme, "www.", default port, fragment, trailing slash and
    tracking parameters (utm_*, fbclid, …); the other parameters in sorted order, those
    without a value too (`index.php?artikel1`). Fragments go: across channels they
    rarely tell two originals apart (`#comments`, `#more`).
    """
    try:
        video = item.video_id or (video_id_from_url(item.link) if item.link else None)
    except ValueError:  # a link urlsplit cannot read is no video's
        video = None
    if video:
        return f"youtube:{video}"
    return link_key(item.link)


def link_key(link: str | None) -> str | None:
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.fullmatch(k)
    )
    path = parts.path.rstrip("/")
    return f"link:{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def format_seconds(seconds: int) -> str:
    """3723 → '1:02:03', 75 → '1:15'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
