"""`load_config`: read the file, validate it, and check what spans several channels."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import ValidationError

from kanalwerk.config.lines import KeyPath, LineLoader, syntax_error
from kanalwerk.config.messages import describe, dotted, show
from kanalwerk.config.models import Config
from kanalwerk.config.paths import output_problem
from kanalwerk.dates import format_duration
from kanalwerk.errors import ConfigError, DuplicateKey
from kanalwerk.sources.youtube import parse_channel_ref

_DEFAULT_PORTS = {"http": 80, "https": 443}


def load_config(path: Path, *, text: str | None = None) -> Config:
    """Read and validate the config file; raise ConfigError naming file, line and key.

    With `text`, that text is validated as if it were the file's (an edit not yet written).
    """
    name = str(path)
    if text is None:
        text = read_config_text(path)

    loader = LineLoader(text)
    try:
        data = loader.load_with_lines()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{name}:{syntax_error(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: YAML syntax error: {exc}") from exc
    except DuplicateKey as dup:
        raise ConfigError(f"{name}:{dup.line}: {dotted(dup.path)}: {dup}") from None
    finally:
        loader.dispose()

    if data is None:
        raise ConfigError(f"{name}: the file is empty; it needs at least site: and channels:")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}:1: the top level must be a mapping (site:, channels:, …), found {show(data)}"
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
        errors = exc.errors(include_url=False)
        problems = sorted(describe(err, loader.lines, Config) for err in errors)
        raise ConfigError("\n".join(f"{name}:{line}: {text}" for line, text in problems)) from None
    _check_unique_ids(config, name, loader.lines)
    _check_unique_feeds(config, name, loader.lines)
    _check_intervals(config, name, loader.lines)
    problem = output_problem(config)
    if problem is not None:
        raise ConfigError(f"{name}:{loader.lines.get(('output',), 1)}: output: {problem}")
    return config


def read_config_text(path: Path, *, keep_newlines: bool = False) -> str:
    """The config file's text; ConfigError saying what is wrong when it cannot be read.

    `keep_newlines`: line ends as in the file ("\r\n" stays), for edits written back.
    """
    name = str(path)
    try:
        with Path(path).open(encoding="utf-8", newline="" if keep_newlines else None) as file:
            return file.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{name}: config file not found; create it or point to yours with "
            "`kanalwerk check --config PATH`"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a folder, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read the config file: {exc}") from exc


def _check_unique_ids(config: Config, name: str, lines: dict[KeyPath, int]) -> None:
    repeat = _first_repeat(channel.id for channel in config.channels)
    if repeat is not None:
        index, earlier = repeat
        channel, other = config.channels[index], config.channels[earlier]
        line = lines.get(("channels", index, "id")) or lines.get(("channels", index), 1)
        raise ConfigError(
            f"{name}:{line}: channels[{index}].id: '{channel.id}' is used by both "
            f"'{other.name}' and '{channel.name}'; give one of them another id:"
        )


def _check_unique_feeds(config: Config, name: str, lines: dict[KeyPath, int]) -> None:
    """One feed under two names would store, translate and publish every item twice."""
    repeat = _first_repeat(feed_identity(c.youtube or c.url or "") for c in config.channels)
    if repeat is not None:
        index, earlier = repeat
        channel, other = config.channels[index], config.channels[earlier]
        here, there = _source_line(lines, index), _source_line(lines, earlier)
        raise ConfigError(
            f"{name}:{here[1]}: channels[{index}].{here[0]}: '{channel.name}' is the same "
            f"feed as '{other.name}' (line {there[1]}); keep one of them, or every item "
            "is published twice"
        )


def _check_intervals(config: Config, name: str, lines: dict[KeyPath, int]) -> None:
    """A channel's own interval must not be shorter than the jitter polls are spread by."""
    jitter = config.schedule.jitter
    for index, channel in enumerate(config.channels):
        if channel.interval is not None and channel.interval < jitter:
            line = lines.get(("channels", index, "interval"), 1)
            interval = format_duration(channel.interval)
            raise ConfigError(
                f"{name}:{line}: channels[{index}].interval: {interval} is "
                f"shorter than schedule.jitter ({format_duration(jitter)}); make it at least "
                "the jitter, or lower the jitter"
            )


def _first_repeat(keys: Iterable[str]) -> tuple[int, int] | None:
    """The index of the first key seen before, and of where it was first seen."""
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            return index, first[key]
        first[key] = index
    return None


def _source_line(lines: dict[KeyPath, int], index: int) -> tuple[str, int]:
    """The key (url or youtube) that names channel `index`'s feed and its line."""
    for key in ("url", "youtube"):
        if ("channels", index, key) in lines:
            return key, lines[("channels", index, key)]
    return "url", lines.get(("channels", index), 1)


def feed_identity(reference: str) -> str:
    """What makes two channels the same feed, however it is written (`url:` or `youtube:`).

    YouTube channels compare by channel id or by handle (handles ignore case), also when
    one is given as its feed URL. Other URLs compare with scheme and host in lower case,
    without a default port, fragment or trailing slash; path and query keep their case.
    """
    try:
        channel_id, handle = parse_channel_ref(reference)
    except ValueError:
        channel_id, handle = None, None
    if channel_id is not None:
        return f"youtube:{channel_id}"
    if handle is not None:
        return f"youtube:{handle.lower()}"
    parts = urlsplit(reference.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
