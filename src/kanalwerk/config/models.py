"""The config's shape: pydantic models with their defaults and value parsers.

This is the only place defaults live; stages get them from here, never declare their own.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kanalwerk.config.messages import fail, show
from kanalwerk.dates import format_duration
from kanalwerk.models import SiteInfo
from kanalwerk.schedule import Cadence
from kanalwerk.select import Field as MatchField
from kanalwerk.select import Matcher, Rules, compile_matcher
from kanalwerk.slug import channel_slug
from kanalwerk.sources.youtube import (
    channel_id_of_feed,
    feed_url_for_channel_id,
    parse_channel_ref,
    uploads_feed_url,
)
from kanalwerk.translate.language import language_code

# `backend[+driver]://rest`, the form SQLAlchemy accepts; SQLite keeps its path in `rest`.
_DATABASE_URL = re.compile(
    r"(?P<scheme>(?P<backend>[A-Za-z][A-Za-z0-9]*)(?:\+(?P<driver>[\w.-]+))?)://(?P<rest>.*)",
    re.S,
)
#: What the store can open: per backend, each synchronous driver's module and how to get
#: it; None stands for SQLAlchemy's default driver of that backend.
_SQLITE3 = ("sqlite3", "use a Python built with its sqlite3 module")
_STORE_DRIVERS: dict[str, dict[str | None, tuple[str, str]]] = {
    "sqlite": {None: _SQLITE3, "pysqlite": _SQLITE3},
    "postgresql": {
        "psycopg2": ("psycopg2", "install psycopg2-binary (pip install psycopg2-binary)"),
        "psycopg": ("psycopg", "install psycopg[binary] (pip install 'psycopg[binary]')"),
        "pg8000": ("pg8000", "install pg8000 (pip install pg8000)"),
    },
}

Engine = Literal["local", "deepl", "libretranslate", "openai"]
ENGINES: tuple[str, ...] = get_args(Engine)
DURATION_HINT = "use e.g. 30m, 1h, 90s"
#: The longest duration any key takes: longer ones are typos, and overflow the scheduler.
MAX_DURATION = timedelta(days=365)


# --- value parsers -------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?", re.I)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?", re.I)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 1024, "mib": 1024**2}
_SIZE_UNITS["gib"] = 1024**3


def parse_duration(value: Any) -> timedelta:
    """'30s', '15m', '1h30m', '2d' or whole seconds; at most `MAX_DURATION`."""
    if isinstance(value, timedelta):
        return _bounded(value, value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _bounded(value, seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _bounded(value, seconds=int(text))
        match = _DURATION.fullmatch(text)
        if text and match:
            d, h, m, s = (int(g or 0) for g in match.groups())
            return _bounded(value, days=d, hours=h, minutes=m, seconds=s)
    raise fail(f"{show(value)} is not a duration; {DURATION_HINT}")


def _bounded(value: Any, given: timedelta | None = None, **parts: int) -> timedelta:
    """The duration of `parts` (or `given`), refused above `MAX_DURATION`."""
    too_long = fail(f"{show(value)} is longer than a year (365d); {DURATION_HINT}")
    try:
        duration = given if given is not None else timedelta(**parts)
    except OverflowError:
        raise too_long from None
    if duration > MAX_DURATION:
        raise too_long
    return duration


def parse_size(value: Any) -> int:
    """Bytes as an integer or '512KB', '10MB' (decimal) / '8MiB' (binary)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        number, unit = match.groups()
        return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])
    raise fail(f"{show(value)} is not a size; use e.g. 10MB, 512KB or a number of bytes")


def _at_least_a_minute(value: timedelta) -> timedelta:
    if value < timedelta(minutes=1):
        raise fail(f"{format_duration(value)} is too short; the minimum interval is 1m")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f"{show(value)} is not an http(s) URL; use e.g. https://example.org/feed")
    return value.strip()


def _public_url(value: str) -> str:
    if urlsplit(value).username is not None:
        raise fail(
            "must not hold a user name or password: every feed names the hub, so every "
            "reader would see them; use a hub that takes pings without credentials"
        )
    return value


def _budget_key(value: str) -> str:
    if value not in (*ENGINES, "*"):
        raise fail(f"{show(value)} is not an engine; use {', '.join(ENGINES)} or '*' (all)")
    return value


BudgetKey = Annotated[str, AfterValidator(_budget_key)]  # an engine name or '*' for every engine
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Interval = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_at_least_a_minute)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
PublicUrl = Annotated[str, AfterValidator(_http_url), AfterValidator(_public_url)]  # in the feeds


def _language_code(value: str) -> str:
    try:
        return language_code(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _source_language(value: str) -> str:
    return value if value == "auto" else _language_code(value)


LanguageCode = Annotated[str, AfterValidator(_language_code)]


def _base_dir(info: ValidationInfo) -> Path:
    """Folder relative paths are resolved against: the config file's, else the working dir."""
    base = info.context.get("base") if isinstance(info.context, dict) else None
    if isinstance(base, Path):
        return base
    path = info.data.get("path") if isinstance(info.data, dict) else None
    return path.parent if isinstance(path, Path) else Path.cwd()


def _resolve(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


# --- models --------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributionConfig(_Model):
    heading: str = "Hinweis zur Quelle"
    text: str = (
        "Dieser Beitrag wurde automatisch erstellt und übersetzt. "
        "Er basiert auf dem folgenden Original:"
    )
    untranslated_text: str = (
        "Dieser Beitrag wurde automatisch erstellt. Er basiert auf dem folgenden Original:"
    )


class SiteConfig(_Model):
    title: str
    subtitle: str | None = None
    base_url: HttpUrl
    author: str
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    feed_size: int = Field(default=50, ge=1, le=1000)  # entries in feed.atom; older ones in archiv/
    page_size: int = Field(default=20, ge=1, le=500)  # articles on one page of the index
    websub_hub: PublicUrl | None = None  # pinged after every change of the feeds

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def info(self) -> SiteInfo:
        """What composing and publishing need to know about the site."""
        return SiteInfo(
            title=self.title,
            subtitle=self.subtitle,
            base_url=self.base_url,
            author=self.author,
            attribution_heading=self.attribution.heading,
            attribution_text=self.attribution.text,
            attribution_untranslated_text=self.attribution.untranslated_text,
            feed_size=self.feed_size,
            page_size=self.page_size,
            websub_hub=self.websub_hub,
        )


class ScheduleConfig(_Model):
    interval: Interval = timedelta(minutes=30)
    jitter: Duration = timedelta(minutes=2)
    # How far the interval adapts to a channel's pace (see kanalwerk.schedule).
    min_interval: Interval = timedelta(minutes=5)
    max_interval: Interval = timedelta(hours=24)

    @model_validator(mode="after")
    def _jitter_within_interval(self) -> ScheduleConfig:
        """A jitter above the interval would let a channel's polls overtake each other."""
        if self.jitter > self.interval:
            raise fail(
                f"jitter ({format_duration(self.jitter)}) is longer than the interval "
                f"({format_duration(self.interval)}); make it at most the interval"
            )
        return self


class FetchConfig(_Model):
    timeout: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    max_bytes: Annotated[int, BeforeValidator(parse_size), Field(ge=1)] = 10_000_000
    max_connections: int = Field(default=8, ge=1)
    max_per_host: int = Field(default=6, ge=1)  # connections to one host, as browsers allow
    max_streams_per_host: int = Field(default=24, ge=1)  # requests at once over HTTP/2
    user_agent: str | None = None
    allow_private_addresses: bool = False  # may any fetched URL reach a private address?


class BudgetConfig(_Model):
    daily_characters: int | None = Field(default=None, ge=0)
    daily_tokens: int | None = Field(default=None, ge=0)


class OpenAIConfig(_Model):
    base_url: HttpUrl = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = Field(default=0.2, ge=0, le=2)
    timeout: float = Field(default=120.0, gt=0)
    max_batch_chars: int = Field(default=6000, ge=1)
    max_retries: int = Field(default=4, ge=0)
    prompt: str | None = None
    price_per_million_input: float | None = Field(default=None, ge=0)
    price_per_million_output: float | None = Field(default=None, ge=0)
    # Article mode (translator.mode: article).
    article_prompt: str | None = None
    article_temperature: float = Field(default=0.4, ge=0, le=2)
    article_max_source_chars: int = Field(default=24000, ge=500)
    article_max_tokens: int | None = Field(default=None, ge=1)
    article_timeout: float = Field(default=180.0, gt=0)  # a whole article takes longer

    @field_validator("article_prompt")
    @classmethod
    def _article_prompt(cls, value: str | None) -> str | None:
        """Catch an empty prompt and one copied from `prompt:`, whose placeholders differ."""
        if value is None:
            return None
        if not value.strip():
            raise fail("is empty; write a prompt or remove the key to use the built-in one")
        wrong = [p for p in ("{source_lang}", "{target_lang}") if p in value]
        if wrong:
            raise fail(
                f"{' and '.join(wrong)} {'are' if len(wrong) > 1 else 'is'} not filled in "
                "article mode; use {channel}, {title}, {kind} (Video/Beitrag) and {glossary}"
            )
        return value


class DeepLConfig(_Model):
    api_key_env: str = "DEEPL_API_KEY"
    formality: Literal["default", "more", "less", "prefer_more", "prefer_less"] | None = None
    glossary_id: str | None = None
    base_url: HttpUrl | None = None
    model_type: (
        Literal["quality_optimized", "prefer_quality_optimized", "latency_optimized"] | None
    ) = None
    preserve_formatting: bool | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)


class LibreTranslateConfig(_Model):
    url: HttpUrl = "http://127.0.0.1:5000"
    api_key_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)  # self-hosted servers on small machines are slow
    max_retries: int = Field(default=3, ge=0)
    # The server's own limits (`--batch-limit`, `--char-limit`); stay under them.
    max_batch_texts: int = Field(default=25, ge=1)
    max_batch_chars: int = Field(default=5000, ge=1)


class LocalConfig(_Model):
    package_index_url: HttpUrl = (
        "https://raw.githubusercontent.com/argosopentech/argospm-index/main/index.json"
    )
    data_dir: Path | None = None
    threads: int = Field(default=0, ge=0)
    beam_size: int = Field(default=2, ge=1)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, _base_dir(info))


class TranslatorConfig(_Model):
    engine: Engine = "local"
    fallback: list[Engine] = []
    mode: Literal["translate", "article"] = "translate"
    source_language: Annotated[str, AfterValidator(_source_language)] = "auto"
    target_language: Literal["de"] = "de"
    glossary: dict[str, str] = {}
    budget: dict[BudgetKey, BudgetConfig] = {}
    max_attempts: int = Field(default=5, ge=1)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    deepl: DeepLConfig = Field(default_factory=DeepLConfig)
    libretranslate: LibreTranslateConfig = Field(default_factory=LibreTranslateConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)

    @field_validator("budget", mode="before")
    @classmethod
    def _single_budget(cls, value: Any) -> Any:
        """`budget: {daily_characters: …}` is one budget for every engine, stored under '*'."""
        if isinstance(value, dict) and value and not set(value) & {*ENGINES, "*"}:
            return {"*": value}
        return value

    @property
    def engines(self) -> list[str]:
        """The engine, then its fallbacks, each once: the order the chain asks them in."""
        return list(dict.fromkeys([self.engine, *self.fallback]))

    def budget_for(self, engine: str) -> BudgetConfig:
        """The engine's own daily caps, else the `*` default, else none."""
        return self.budget.get(engine) or self.budget.get("*") or BudgetConfig()


# --- choosing what gets published (select.py) -----------------------------------------

#: Items a channel seen for the first time publishes, unless `backfill:` says otherwise.
DEFAULT_BACKFILL = 3


def _keyword(value: Any) -> str:
    """A keyword or `/regex/`; a regex that does not compile is refused here, with its line."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise fail(f"found {show(value)}; expected a keyword or a /regex/")
    try:
        compile_matcher("title", str(value))
    except ValueError as exc:
        raise fail(str(exc)) from None
    return str(value)


Keyword = Annotated[str, BeforeValidator(_keyword)]


class MatchConfig(_Model):
    """`include:`/`exclude:` by field; a plain list stands for `title_or_text`."""

    title: list[Keyword] = []
    text: list[Keyword] = []
    category: list[Keyword] = []
    title_or_text: list[Keyword] = []

    @model_validator(mode="before")
    @classmethod
    def _plain_list(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = [data]
        return {"title_or_text": data} if isinstance(data, list) else data

    def matchers(self) -> tuple[Matcher, ...]:
        fields: tuple[tuple[MatchField, list[str]], ...] = (
            ("title", self.title),
            ("text", self.text),
            ("category", self.category),
            ("title or text", self.title_or_text),
        )
        return tuple(compile_matcher(name, word) for name, words in fields for word in words)


def _backfill(value: Any) -> Any:
    if value == "all":
        return None
    if isinstance(value, str | bool):
        raise fail(f"found {show(value)}; expected a whole number of items or all")
    return value


#: What an edited original does to its article: `remake` it (the translation cache makes
#: only changed segments cost), or `ignore` the edit.
UpdatePolicy = Literal["remake", "ignore"]


class SelectionKeys(_Model):
    """What decides which items become articles; in `selection:` and on each channel.

    A key on a channel replaces the one in `selection:`, except `exclude:`, whose rules
    add up. Unset keys are None, so a channel can tell "not set" from a value.
    """

    backfill: Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_backfill)] = (
        DEFAULT_BACKFILL
    )
    include: MatchConfig | None = None
    exclude: MatchConfig | None = None
    min_duration: Duration | None = None
    max_duration: Duration | None = None
    languages: list[LanguageCode] | None = None
    shorts: bool | None = None
    review: bool = False  # translated articles wait as drafts for `kanalwerk approve`
    update: UpdatePolicy = "remake"

    @model_validator(mode="after")
    def _durations_in_order(self) -> SelectionKeys:
        low, high = self.min_duration, self.max_duration
        if low is not None and high is not None and low > high:
            raise fail("min_duration is longer than max_duration; swap them")
        return self


class SelectionConfig(SelectionKeys):
    """The global `selection:` section: defaults for every channel."""


def channel_rules(
    channel: ChannelConfig, selection: SelectionConfig, default_language: str | None
) -> Rules:
    """The rules `select` applies to `channel`: its own keys over `selection:`."""
    own = channel.model_fields_set

    def pick(name: str) -> Any:
        return getattr(channel if name in own else selection, name)

    include = pick("include")
    excludes = [rules for rules in (selection.exclude, channel.exclude) if rules is not None]
    low, high = pick("min_duration"), pick("max_duration")
    return Rules(
        backfill=pick("backfill"),
        include=include.matchers() if include is not None else (),
        exclude=tuple(m for rules in excludes for m in rules.matchers()),
        min_duration=int(low.total_seconds()) if low is not None else None,
        max_duration=int(high.total_seconds()) if high is not None else None,
        languages=frozenset(pick("languages") or ()),
        shorts=bool(pick("shorts")),
        channel_language=channel.language,
        default_language=default_language,
    )


class ChannelConfig(SelectionKeys):
    name: str = Field(min_length=1)
    url: HttpUrl | None = None
    youtube: str | None = None
    # Fetch each new article's page for its whole text (sources/fulltext.py).
    full_text: bool = False
    id: str = ""
    interval: Interval | None = None
    min_interval: Interval | None = None
    max_interval: Interval | None = None
    enabled: bool = True
    language: LanguageCode | None = None
    # Videos' transcripts (None: when the youtube extra is installed) and podcasts'.
    transcripts: bool | None = None
    # Translate mode: the translated transcript follows the description ("Das Video in
    # Textform"); false publishes the translated description alone.
    transcript_section: bool = True

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None and isinstance(data.get("name"), str):
            slug = channel_slug(data["name"])
            if not slug:
                raise fail(f"cannot make an id from name {data['name']!r}; add an id: key")
            return {**data, "id": slug}
        return data

    @field_validator("id")
    @classmethod
    def _id_is_slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
            raise fail(f"{value!r} is not a valid id; use lower-case letters, digits and '-'")
        return value

    @field_validator("full_text")
    @classmethod
    def _extractor_installed(cls, value: bool) -> bool:
        if value and importlib.util.find_spec("trafilatura") is None:
            raise fail(
                "needs trafilatura to extract the pages' text; install it with "
                "pip install 'kanalwerk[fulltext]', or remove full_text: true"
            )
        return value

    @field_validator("youtube")
    @classmethod
    def _youtube(cls, value: str | None) -> str | None:
        if value is not None:
            _youtube_ref(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ChannelConfig:
        if self.url is not None and self.youtube is not None:
            raise fail("has both url: and youtube:; keep only one")
        if self.url is None and self.youtube is None:
            raise fail("needs url: (a feed URL) or youtube: (channel id, channel URL or @handle)")
        return self

    @property
    def youtube_channel_id(self) -> str | None:
        return _youtube_ref(self.youtube)[0] if self.youtube else None

    @property
    def youtube_handle(self) -> str | None:
        """'@CNBC' when the channel is given by handle; the feed URL is then found at run time."""
        return _youtube_ref(self.youtube)[1] if self.youtube else None

    @property
    def feed_url(self) -> str | None:
        if self.url is not None:
            return self.url
        channel_id = self.youtube_channel_id
        return None if channel_id is None else feed_url_for_channel_id(channel_id)

    def poll_url(self, shorts: bool) -> str | None:
        """The URL to poll: a YouTube channel's uploads without Shorts unless `shorts`.

        The uploads playlist has no live streams either: only the channel feed, polled
        with `shorts`, lists them (and so holds them until they air).
        """
        url = self.feed_url
        channel_id = channel_id_of_feed(url) if url is not None else None
        if channel_id is None or shorts:
            return url
        return uploads_feed_url(channel_id)


def _youtube_ref(value: str) -> tuple[str | None, str | None]:
    """(channel id, handle) of a `youtube:` value, as a validation error if it is none."""
    try:
        return parse_channel_ref(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


class Config(_Model):
    path: Path
    site: SiteConfig
    output: Path = Field(default=Path("output/"), validate_default=True)
    store: str = Field(default="sqlite:///kanalwerk.db", validate_default=True)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    translator: TranslatorConfig = Field(default_factory=TranslatorConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    channels: list[ChannelConfig] = Field(min_length=1)

    def rules(self, channel: ChannelConfig) -> Rules:
        """How items of `channel` are chosen: see `channel_rules`."""
        source = self.translator.source_language
        return channel_rules(channel, self.selection, None if source == "auto" else source)

    @property
    def store_file(self) -> Path | None:
        """The SQLite database file of `store:` (absolute); None for other databases."""
        match = _DATABASE_URL.fullmatch(self.store)
        if match is None or match["backend"].lower() != "sqlite":
            return None
        database = match["rest"].split("?", 1)[0]
        if not database.startswith("/") or database in ("/", "/:memory:"):
            return None
        return None if database.startswith("/file:") else Path(database[1:])

    def cadence(self, channel: ChannelConfig) -> Cadence:
        """How often `channel` is polled: its own keys, else `schedule:`."""
        s = self.schedule
        return Cadence(
            interval=channel.interval or s.interval,
            min_interval=channel.min_interval or s.min_interval,
            max_interval=channel.max_interval or s.max_interval,
            jitter=s.jitter,
        )

    def poll_url(self, channel: ChannelConfig) -> str | None:
        """The URL `channel` is polled at (see `ChannelConfig.poll_url`)."""
        return channel.poll_url(self.rules(channel).shorts)

    def channel(self, channel_id: str) -> ChannelConfig | None:
        """The channel of that id, if the config still names it."""
        return next((c for c in self.channels if c.id == channel_id), None)

    def _selection_key(self, channel_id: str, name: str) -> Any:
        """The channel's own value of a `SelectionKeys` key, else the `selection:` one."""
        channel = self.channel(channel_id)
        own = channel is not None and name in channel.model_fields_set
        return getattr(channel if own else self.selection, name)

    def reviews(self, channel_id: str) -> bool:
        """Whether the channel's new articles wait as drafts for `kanalwerk approve`."""
        return bool(self._selection_key(channel_id, "review"))

    def remakes(self, channel_id: str) -> bool:
        """Whether an edited original of the channel re-makes its article."""
        return bool(self._selection_key(channel_id, "update") == "remake")

    @field_validator("output")
    @classmethod
    def _absolute_output(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, _base_dir(info))

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str, info: ValidationInfo) -> str:
        """A store the store module can open, with its driver installed.

        A relative SQLite path is relative to the config file, not the working folder.
        """
        match = _DATABASE_URL.fullmatch(value)
        try:
            urlsplit(value).port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            match = None
        if match is None:
            raise fail(
                "is not a database URL; use e.g. sqlite:///kanalwerk.db or postgresql://user@host/db"
            )
        _check_store_driver(match["backend"].lower(), match["driver"])
        if match["backend"].lower() != "sqlite" or not match["rest"].startswith("/"):
            return value
        database, query = match["rest"][1:], ""
        if "?" in database:
            database, query = database.split("?", 1)
            query = "?" + query
        if database in ("", ":memory:") or database.startswith("file:"):
            return value
        absolute = _resolve(Path(database), _base_dir(info))
        return f"{match['scheme']}:///{absolute}{query}"


def _default_driver(backend: str) -> str:
    """The driver SQLAlchemy loads for `backend://`: for PostgreSQL psycopg2 up to 2.0,
    psycopg (3) from 2.1. Asked only for such a URL: SQLAlchemy is slow to import."""
    import sqlalchemy as sa

    return str(sa.engine.make_url(f"{backend}://").get_dialect().driver)


def _check_store_driver(backend: str, driver: str | None) -> None:
    """Refuse a backend or driver the store cannot use, and a driver that is not installed.

    Only whether the driver's module can be found is asked: importing it (or SQLAlchemy)
    would slow down reading the config.
    """
    drivers = _STORE_DRIVERS.get(backend)
    if drivers is None:
        raise fail(
            f"{backend} is not a store kanalwerk can use; use sqlite:///kanalwerk.db "
            "or postgresql://user@host/db"
        )
    if driver is None and None not in drivers:
        driver = _default_driver(backend)
    known = drivers.get(driver.lower() if driver else None)
    if known is None:
        usable = ", ".join(f"{backend}+{name}" for name in drivers if name)
        raise fail(f"{backend}+{driver} is not a driver kanalwerk can use; use {usable}")
    module, remedy = known
    if importlib.util.find_spec(module) is None:
        raise fail(f"its driver {module} is not installed; {remedy}")
