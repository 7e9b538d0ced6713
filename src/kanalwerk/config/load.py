"""`load_config`: read the file, validate it, and check what spans several channels."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from kanalwerk.config.lines import KeyPath, LineLoader, syntax_error
from kanalwerk.config.messages import describe, dotted, show
from kanalwerk.config.models import Config
from kanalwerk.errors import ConfigError, DuplicateKey


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
    return config


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
