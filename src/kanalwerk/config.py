"""Read and validate `feeds.yaml`.

Every problem becomes one `ConfigError` whose lines read `file:line: key.path: message`, so
the user can jump straight to the spot. Line numbers come from a YAML loader that records
where each key and list element starts; pydantic's error locations are mapped onto them.
"""

from __future__ import annotations

import difflib
import re
import types
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kanalwerk.errors import ConfigError
from kanalwerk.slug import slugify
from kanalwerk.sources.youtube import feed_url_for_channel_id, parse_channel_ref

Engine = Literal["local", "deepl", "libretranslate", "openai"]
ENGINES: tuple[str, ...] = get_args(Engine)
DURATION_HINT = "use e.g. 30m, 1h, 90s"


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose message is shown to the user as is."""
    return PydanticCustomError("kanalwerk", message)


# --- value parsers -------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?", re.I)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?", re.I)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 1024, "mib": 1024**2}
_SIZE_UNITS["gib"] = 1024**3


def parse_duration(value: Any) -> timedelta:
    """'30s', '15m', '1h30m', '2d' or whole seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return timedelta(seconds=int(text))
        match = _DURATION.fullmatch(text)
        if text and match:
            d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
    raise _fail(f"{_show(value)} is not a duration; {DURATION_HINT}")


def parse_size(value: Any) -> int:
    """Bytes as an integer or '512KB', '10MB' (decimal) / '8MiB' (binary)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        number, unit = match.groups()
        return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])
    raise _fail(f"{_show(value)} is not a size; use e.g. 10MB, 512KB or a number of bytes")


def _at_least_a_minute(value: timedelta) -> timedelta:
    if value < timedelta(minutes=1):
        raise _fail(f"{_format_duration(value)} is too short; the minimum interval is 1m")
    return value


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"{_show(value)} is not an http(s) URL; use e.g. https://example.org/feed")
    return value.strip()


def _budget_key(value: str) -> str:
    if value not in (*ENGINES, "*"):
        raise _fail(f"{_show(value)} is not an engine; use {', '.join(ENGINES)} or '*' (all)")
    return value


BudgetKey = Annotated[str, AfterValidator(_budget_key)]  # an engine name or '*' for every engine
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Interval = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_at_least_a_minute)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


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

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class ScheduleConfig(_Model):
    interval: Interval = timedelta(minutes=30)
    jitter: Duration = timedelta(minutes=2)


class FetchConfig(_Model):
    timeout: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    max_bytes: Annotated[int, BeforeValidator(parse_size), Field(ge=1)] = 10_000_000
    max_connections: int = Field(default=8, ge=1)
    max_per_host: int = Field(default=2, ge=1)
    user_agent: str | None = None
    allow_private_addresses: bool = False  # may a public feed redirect to a private address?


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

    @field_validator("article_prompt")
    @classmethod
    def _article_prompt(cls, value: str | None) -> str | None:
        """Catch an empty prompt and one copied from `prompt:`, whose placeholders differ."""
        if value is None:
            return None
        if not value.strip():
            raise _fail("is empty; write a prompt or remove the key to use the built-in one")
        wrong = [p for p in ("{source_lang}", "{target_lang}") if p in value]
        if wrong:
            raise _fail(
                f"{' and '.join(wrong)} {'are' if len(wrong) > 1 else 'is'} not filled in "
                "article mode; use {channel}, {title}, {kind} (Video/Beitrag) and {glossary}"
            )
        return value


class DeepLConfig(_Model):
    api_key_env: str = "DEEPL_API_KEY"
    formality: Literal["default", "more", "less", "prefer_more", "prefer_less"] | None = None
    glossary_id: str | None = None
    base_url: HttpUrl | None = None


class LibreTranslateConfig(_Model):
    url: HttpUrl = "http://127.0.0.1:5000"
    api_key_env: str | None = None


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
    source_language: str = "auto"
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

    def budget_for(self, engine: str) -> BudgetConfig:
        """The engine's own daily caps, else the `*` default, else none."""
        return self.budget.get(engine) or self.budget.get("*") or BudgetConfig()


class ChannelConfig(_Model):
    name: str = Field(min_length=1)
    url: HttpUrl | None = None
    youtube: str | None = None
    id: str = ""
    interval: Interval | None = None
    enabled: bool = True
    language: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None and isinstance(data.get("name"), str):
            slug = slugify(data["name"])
            if not slug:
                raise _fail(f"cannot make an id from name {data['name']!r}; add an id: key")
            return {**data, "id": slug}
        return data

    @field_validator("id")
    @classmethod
    def _id_is_slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
            raise _fail(f"{value!r} is not a valid id; use lower-case letters, digits and '-'")
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
            raise _fail("has both url: and youtube:; keep only one")
        if self.url is None and self.youtube is None:
            raise _fail("needs url: (a feed URL) or youtube: (channel id, channel URL or @handle)")
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


def _youtube_ref(value: str) -> tuple[str | None, str | None]:
    """(channel id, handle) of a `youtube:` value, as a validation error if it is none."""
    try:
        return parse_channel_ref(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


class Config(_Model):
    path: Path
    site: SiteConfig
    output: Path = Field(default=Path("output/"), validate_default=True)
    store: str = Field(default="sqlite:///kanalwerk.db", validate_default=True)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    translator: TranslatorConfig = Field(default_factory=TranslatorConfig)
    channels: list[ChannelConfig] = Field(min_length=1)

    @field_validator("output")
    @classmethod
    def _absolute_output(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, _base_dir(info))

    @field_validator("store")
    @classmethod
    def _absolute_sqlite(cls, value: str, info: ValidationInfo) -> str:
        example = "use e.g. sqlite:///kanalwerk.db or postgresql://user@host/db"
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise _fail(f"is not a database URL; {example}") from None
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return value
        if database.startswith("file:"):
            return value
        absolute = _resolve(Path(database), _base_dir(info))
        return url.set(database=str(absolute)).render_as_string(hide_password=False)


# --- loading -------------------------------------------------------------------------------

Key = str | int | float | bool | None
KeyPath = tuple[Key, ...]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that also records the line of every mapping key and sequence element."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[KeyPath, int] = {}

    def load_with_lines(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self._record(node, (), node.start_mark.line + 1, set())
        return self.construct_document(node)

    def _record(self, node: yaml.Node, path: KeyPath, line: int, active: set[int]) -> None:
        self.lines.setdefault(path, line)
        if id(node) in active or len(self.lines) > 100_000:  # alias cycle or alias bomb
            return
        active.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                self._record(child, (*path, index), child.start_mark.line + 1, active)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Key, int] = {}
            for key_node, child in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node)
                key_line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey((*path, key), key_line, seen[key])
                seen[key] = key_line
                self._record(child, (*path, key), key_line, active)
        active.discard(id(node))


class _DuplicateKey(Exception):
    def __init__(self, path: KeyPath, line: int, first: int) -> None:
        super().__init__()
        self.path, self.line, self.first = path, line, first


def load_config(path: Path) -> Config:
    """Read and validate the config file; raise ConfigError naming file, line and key."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{name}: config file not found; create it or point to yours with "
            "`kanalwerk check --config PATH`"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a folder, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read the config file: {exc}") from exc

    loader = _LineLoader(text)
    try:
        data = loader.load_with_lines()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{name}:{_syntax_error(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: YAML syntax error: {exc}") from exc
    except _DuplicateKey as dup:
        raise ConfigError(
            f"{name}:{dup.line}: {_dotted(dup.path)}: duplicate key (first at line {dup.first})"
        ) from None
    finally:
        loader.dispose()

    if data is None:
        raise ConfigError(f"{name}: the file is empty; it needs at least site: and channels:")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}:1: the top level must be a mapping (site:, channels:, …), found {_show(data)}"
        )
    if "path" in data:
        line = loader.lines[("path",)]
        raise ConfigError(f"{name}:{line}: path: unknown key; the file's place is set by --config")
    absolute = Path(path).resolve()
    try:
        config = Config.model_validate(
            {**data, "path": absolute}, context={"base": absolute.parent}
        )
    except ValidationError as exc:
        problems = sorted(_describe(err, loader.lines) for err in exc.errors(include_url=False))
        raise ConfigError("\n".join(f"{name}:{line}: {text}" for line, text in problems)) from None
    _check_unique_ids(config, name, loader.lines)
    return config


def _syntax_error(exc: yaml.MarkedYAMLError) -> str:
    """'line:column: YAML syntax error: problem (context at line n)' from PyYAML's marks."""
    mark, context_mark = exc.problem_mark or exc.context_mark, exc.context_mark
    where = f"{mark.line + 1}:{mark.column + 1}:" if mark else ""
    context = ""
    if exc.context and exc.problem:
        context = f" ({exc.context}"
        if context_mark and mark and context_mark.line != mark.line:
            context += f" that starts at line {context_mark.line + 1}"
        context += ")"
    return f"{where} YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}{context}"


def _check_unique_ids(config: Config, name: str, lines: dict[KeyPath, int]) -> None:
    first: dict[str, int] = {}
    for index, channel in enumerate(config.channels):
        if channel.id in first:
            other = config.channels[first[channel.id]]
            line = lines.get(("channels", index, "id")) or lines.get(("channels", index), 1)
            raise ConfigError(
                f"{name}:{line}: channels[{index}].id: '{channel.id}' is used by both "
                f"'{other.name}' and '{channel.name}'; give one of them another id:"
            )
        first[channel.id] = index


# --- error messages ------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "path_type": "a path",
}


def _describe(err: Any, lines: dict[KeyPath, int]) -> tuple[int, str]:
    """One pydantic error as (line, 'key.path: what was found, what is expected')."""
    loc: KeyPath = tuple(part for part in err["loc"] if part != "[key]")
    if loc[:3] == ("translator", "budget", "*") and loc[:3] not in lines:
        shown = loc[:2] + loc[3:]  # the single-budget form was filed under '*'
    else:
        shown = loc
    line = next((lines[shown[:n]] for n in range(len(shown), -1, -1) if shown[:n] in lines), 1)
    kind, found = err["type"], err.get("input")
    if kind == "kanalwerk":
        text = err["msg"]
    elif kind == "missing":
        text = "required key is missing"
    elif kind == "extra_forbidden":
        text = "unknown key; " + _suggest(loc)
    elif loc[:1] == ("store",):  # the URL may hold a password: never echo it
        text = err["msg"]
    elif kind == "literal_error":
        text = f"found {_show(found)}; expected {err['ctx']['expected']}"
    elif kind == "string_type" and isinstance(found, bool):
        text = f"found {_show(found)}; expected text (quote it: YAML reads yes/no as true/false)"
    elif kind == "too_short":
        text = "is empty; add at least one entry"
    elif kind in _EXPECTED:
        text = f"found {_show(found)}; expected {_EXPECTED[kind]}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        text = f"found {_show(found)}; {msg[:1].lower()}{msg[1:]}"
    return line, f"{_dotted(shown)}: {text}" if shown else text


def _suggest(loc: KeyPath) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "remove it"
    allowed = sorted(k for k in model.model_fields if not (model is Config and k == "path"))
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "allowed keys: " + ", ".join(allowed)


def _model_at(loc: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (for listing its keys)."""
    current: Any = Config
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif get_origin(current) in (list, dict):
            current = _unwrap(get_args(current)[-1])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and `X | None` down to the container or model type."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        tp = arms[0] if len(arms) == 1 else tp
    return tp


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w-]*|\*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def _show(value: Any) -> str:
    """A found value, short and in YAML terms."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "…"
