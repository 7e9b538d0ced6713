"""YAML reading that remembers the line of every key, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

from kanalwerk.errors import DuplicateKey

Key = str | int | float | bool | None
KeyPath = tuple[Key, ...]


class LineLoader(yaml.SafeLoader):
    """SafeLoader that also records the line of every mapping key and sequence element.

    A key given twice in one mapping raises `DuplicateKey`: PyYAML would silently keep
    the last one.
    """

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
                    raise DuplicateKey((*path, key), key_line, seen[key])
                seen[key] = key_line
                self._record(child, (*path, key), key_line, active)
        active.discard(id(node))


def syntax_error(exc: yaml.MarkedYAMLError) -> str:
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
