"""Edits of `feeds.yaml` from the command line: add and remove channels, nothing else moves.

A YAML library that loads and dumps the whole document re-indents and re-spaces what it
does not keep track of (comment columns, sequence offsets), so the edit is made on the
text instead: the parsed document says where the channel list and each entry start and
end, the new lines are spliced in there, and every other byte of the file stays as the
user wrote it. The edited text is validated with the normal loader (which also refuses a
second channel with the same id or feed) before it replaces the file atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from kanalwerk.config.lines import syntax_error
from kanalwerk.config.load import feed_identity, load_config, read_config_text
from kanalwerk.config.models import Config
from kanalwerk.errors import ConfigError
from kanalwerk.publish.files import write_atomic
from kanalwerk.slug import channel_slug
from kanalwerk.sources.youtube import parse_channel_ref

__all__ = [
    "ConfiguredChannel",
    "NewChannel",
    "Skipped",
    "add_channels",
    "config_before_adding",
    "configured_channels",
    "plan_import",
    "remove_channel",
]

#: How a new `channels:` list is indented when the file has none to copy.
_DASH, _KEY = 2, 4


@dataclass(frozen=True)
class NewChannel:
    """A channel to append: its name and exactly one of `url` and `youtube`."""

    name: str
    url: str | None = None
    youtube: str | None = None

    @property
    def reference(self) -> str:
        return self.youtube or self.url or ""


@dataclass(frozen=True)
class ConfiguredChannel:
    """A channel as the file writes it, read without validating the rest of the file."""

    name: str
    id: str
    reference: str  # its url: or youtube: value


@dataclass(frozen=True)
class Skipped:
    title: str
    url: str
    reason: str


def add_channels(path: Path, channels: Sequence[NewChannel]) -> Config:
    """Append `channels` to the file's channel list; return the config as now written.

    Raises ConfigError (the file untouched) when the result would not be a valid config,
    e.g. because a channel of that name or feed is configured already.
    """
    what = ", ".join(repr(c.name) for c in channels)
    return _validate_and_write(path, _added_text(path, channels), f"{what} not added")


def config_before_adding(path: Path) -> Config:
    """The config `add` fetches with: the file's, also while its channel list is empty.

    A file without channels is not a valid config yet, but its `site:` and `fetch:` are
    all that finding a feed needs; it is checked with a stand-in channel, never written.
    """
    if configured_channels(path):
        return load_config(path)
    stand_in = NewChannel("kanalwerk stand-in", url="https://example.org/feed")
    return load_config(path, text=_added_text(path, [stand_in]))


def _added_text(path: Path, channels: Sequence[NewChannel]) -> str:
    text = read_config_text(path, keep_newlines=True)
    root = _compose(text, path)
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if text.endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    found = _channels_node(root)
    if found is None:  # no channels: key yet
        block = [] if not lines or not lines[-1].strip() else [newline]
        block.append("channels:" + newline)
        block += _entry_lines(channels, _DASH, _KEY, newline, blank_between=False)
        edited = [*lines, *block]
    else:
        key, node = found
        edited = _append(lines, key, node, channels, newline, path)
    return "".join(edited)


def remove_channel(path: Path, name: str) -> Config:
    """Remove the channel called `name` (or with that id) and its lines; keep all others.

    Comments above the entry stay: they may as well describe the list or the next one.
    """
    text = read_config_text(path, keep_newlines=True)
    root = _compose(text, path)
    found = _channels_node(root)
    items = _entries(found[1]) if found else []
    index = next((i for i, (n, i_d, _) in enumerate(items) if name in (n, i_d)), None)
    if found is None or index is None:
        known = ", ".join(n for n, _, _ in items) or "none"
        raise ConfigError(f"{path}: no channel named {name!r}; configured channels: {known}")
    node = found[1]
    assert isinstance(node, yaml.SequenceNode)  # only a list has entries
    if node.flow_style:
        raise ConfigError(_flow_list_message(path, node))
    if len(items) == 1:
        raise ConfigError(
            f"{path}: {name!r} is the only channel, and a config needs one; add another first"
        )
    lines = text.splitlines(keepends=True)
    item = node.value[index]
    first, last = _first_line(lines, item), _last_line(lines, item)
    # Blank lines that separate entries go with it: those after it, or for the last
    # entry those before it.
    if index < len(items) - 1:
        while last + 1 < len(lines) and not lines[last + 1].strip():
            last += 1
    else:
        while first > 0 and not lines[first - 1].strip():
            first -= 1
    edited = lines[:first] + lines[last + 1 :]
    return _validate_and_write(path, "".join(edited), f"{name!r} not removed")


def configured_channels(path: Path) -> list[ConfiguredChannel]:
    """The channels the file lists, also when the file is not valid yet (an empty list)."""
    found = _channels_node(_compose(read_config_text(path), path))
    if found is None:
        return []
    return [ConfiguredChannel(n, i, ref) for n, i, ref in _entries(found[1])]


def plan_import(
    feeds: Iterable[tuple[str, str]], configured: Sequence[ConfiguredChannel]
) -> tuple[list[NewChannel], list[Skipped]]:
    """Which of `feeds` (title, feed URL) to add, and why the others are skipped.

    A feed is skipped when the config (or an earlier feed of the list) has it already, by
    the same rule the config refuses a feed twice with. A title whose id is taken gets a
    number, so two feeds both called "Blog" are both added.
    """
    seen = {feed_identity(c.reference): c.name for c in configured}
    ids = {c.id for c in configured}
    added: list[NewChannel] = []
    skipped: list[Skipped] = []
    for title, url in feeds:
        if urlsplit(url).scheme not in ("http", "https"):
            skipped.append(Skipped(title, url, "not an http(s) feed URL"))
            continue
        identity = feed_identity(url)
        if identity in seen:
            skipped.append(Skipped(title, url, f"already configured as {seen[identity]!r}"))
            continue
        name = _unused_name(" ".join(title.split()) or url, url, ids)
        seen[identity] = name
        ids.add(channel_slug(name))
        added.append(_channel_for(name, url))
    return added, skipped


def _channel_for(name: str, url: str) -> NewChannel:
    """A YouTube channel feed is written as `youtube: UC…`, the form the config prefers."""
    try:
        channel_id, _ = parse_channel_ref(url)
    except ValueError:
        channel_id = None
    return NewChannel(name, youtube=channel_id) if channel_id else NewChannel(name, url=url)


def _unused_name(title: str, url: str, ids: set[str]) -> str:
    base = title if channel_slug(title) else (urlsplit(url).hostname or "feed")
    name, number = base, 2
    while channel_slug(name) in ids:
        name, number = f"{base} ({number})", number + 1
    return name


# --- the text ------------------------------------------------------------------------------


def _compose(text: str, path: Path) -> yaml.MappingNode:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{path}:{syntax_error(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:1: the top level must be a mapping (site:, channels:, …)")
    return root


def _channels_node(root: yaml.MappingNode) -> tuple[yaml.Node, yaml.Node] | None:
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "channels":
            return key, value
    return None


def _entries(node: yaml.Node) -> list[tuple[str, str, str]]:
    """(name, id, url or youtube) of each entry of the channel list, as far as written."""
    if not isinstance(node, yaml.SequenceNode):
        return []
    entries = []
    for item in node.value:
        fields = {}
        if isinstance(item, yaml.MappingNode):
            fields = {
                k.value: v.value
                for k, v in item.value
                if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
            }
        name = str(fields.get("name", ""))
        channel_id = str(fields.get("id") or channel_slug(name))
        entries.append((name, channel_id, str(fields.get("youtube") or fields.get("url") or "")))
    return entries


def _append(
    lines: list[str],
    key: yaml.Node,
    node: yaml.Node,
    channels: Sequence[NewChannel],
    newline: str,
    path: Path,
) -> list[str]:
    """`lines` with `channels` after the last entry of the list `node` (or as its first)."""
    empty = (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")) or (
        isinstance(node, yaml.SequenceNode) and not node.value
    )
    if empty:  # `channels:`, `channels: ~` or `channels: []`: the list starts here
        line = key.start_mark.line
        start, end = node.start_mark, node.end_mark
        head = lines[line][: start.column].rstrip() if start.line == line else lines[line]
        tail = lines[end.line][end.column :] if end.line == line else newline
        first = [head.rstrip("\r\n") + (tail.rstrip("\r\n") or "") + newline]
        entries = _entry_lines(channels, _DASH, _KEY, newline, blank_between=False)
        return [*lines[:line], *first, *entries, *lines[max(line, end.line) + 1 :]]
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: channels: is not a list")
    if node.flow_style:
        raise ConfigError(_flow_list_message(path, node))
    items = node.value
    last_item = items[-1]
    key_column = last_item.start_mark.column
    dash_line = lines[_first_line(lines, last_item)]
    dash_column = dash_line.index("-") if "-" in dash_line else max(key_column - 2, 0)
    if key_column <= dash_column or last_item.start_mark.line != _first_line(lines, last_item):
        key_column = dash_column + 2
    blank = len(items) > 1 and any(
        not lines[i].strip()
        for i in range(_last_line(lines, items[-2]) + 1, _first_line(lines, last_item))
    )
    at = _last_line(lines, last_item) + 1
    new = _entry_lines(channels, dash_column, key_column, newline, blank_between=blank)
    if blank:
        new = [newline, *new]
    return [*lines[:at], *new, *lines[at:]]


def _flow_list_message(path: Path, node: yaml.Node) -> str:
    return (
        f"{path}:{node.start_mark.line + 1}: channels: is written as one [ … ] list; "
        "write it as a block list (one '- name: …' entry per channel) so it can be edited"
    )


def _first_line(lines: list[str], item: yaml.Node) -> int:
    """The line of the entry's dash (`-` may stand alone on the line above its keys)."""
    line = item.start_mark.line
    if lines[line][: item.start_mark.column].strip() or line == 0:
        return line
    return line - 1 if lines[line - 1].strip() == "-" else line


def _last_line(lines: list[str], item: yaml.Node) -> int:
    """The entry's last line: its last value, and comments right below that are indented
    deeper than its dash (a commented-out key of the entry), but no blank line."""
    last = _last_value_line(item)
    dash = len(lines[_first_line(lines, item)]) - len(lines[_first_line(lines, item)].lstrip())
    while last + 1 < len(lines):
        text = lines[last + 1]
        indent = len(text) - len(text.lstrip())
        if not text.lstrip().startswith("#") or indent <= dash:
            break
        last += 1
    return last


def _last_value_line(item: yaml.Node) -> int:
    node = item
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style:
        if not node.value:
            break
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    end = node.end_mark
    return end.line if end.column > 0 else end.line - 1


def _entry_lines(
    channels: Sequence[NewChannel], dash: int, key: int, newline: str, *, blank_between: bool
) -> list[str]:
    lines: list[str] = []
    for number, channel in enumerate(channels):
        if blank_between and number:
            lines.append(newline)
        source = ("youtube", channel.youtube) if channel.youtube else ("url", channel.url or "")
        lines.append(" " * dash + "-" + " " * (key - dash - 1) + f"name: {_scalar(channel.name)}")
        lines[-1] += newline
        lines.append(" " * key + f"{source[0]}: {_scalar(source[1])}" + newline)
    return lines


def _scalar(value: str) -> str:
    """`value` as a YAML scalar: plain where YAML reads it back unchanged, else in "quotes"."""
    plain = yaml.safe_dump(value, allow_unicode=True, width=1_000_000).split("\n", 1)[0]
    if plain[:1] in ("'", '"') or yaml.safe_load(plain) != value:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML "…" scalar
    return plain


def _validate_and_write(path: Path, text: str, what: str) -> Config:
    try:
        config = load_config(path, text=text)
    except ConfigError as exc:
        raise ConfigError(
            f"{what}, {path} is unchanged; the edited file would be invalid:\n{exc}"
        ) from None
    write_atomic(path, text.encode("utf-8"))
    return config
