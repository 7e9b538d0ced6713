"""How the code is laid out: modules import each other in layers, without a circle.

The imports are read from the source as written. Counted are those a module makes when
it is imported (top level) and those the type checker follows (`if TYPE_CHECKING:`);
importing `a.b` imports package `a` too. Imports inside functions are left out: they
are how a command defers its stages.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path

import kanalwerk
import kanalwerk.pipeline as pipeline
from kanalwerk.pipeline import articles, poll, publishing, translating

SRC = Path(kanalwerk.__file__).parent
#: The callers of the composition root: nothing below them may import the pipeline.
PIPELINE_CALLERS = {"kanalwerk.cli", "kanalwerk.daemon", "kanalwerk.review"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Top-level statements and those under a top-level `if` (TYPE_CHECKING)."""
    return [
        n
        for stmt in tree.body
        for n in ([stmt, *stmt.body] if isinstance(stmt, ast.If) else [stmt])
    ]


@functools.cache
def _graph() -> Mapping[str, frozenset[str]]:
    """Each module's imports; read once, as parsing every module takes about half a second."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                targets |= {known(n) or known(node.module) or "" for n in names}
            elif isinstance(node, ast.Import):
                targets |= {known(alias.name) or "" for alias in node.names}
        for target in list(targets):  # importing a.b.c runs a and a.b first
            while "." in target:
                target = target.rpartition(".")[0]
                if target in modules and not name.startswith(target + "."):
                    targets.add(target)
        graph[name] = frozenset(targets - {"", name})
    return graph


def _circle_from(start: str, graph: Mapping[str, frozenset[str]]) -> list[str] | None:
    """A path of imports from `start` back to `start`, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for target in sorted(graph[name]):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_graph_sees_the_imports_it_counts() -> None:
    graph = _graph()
    assert "kanalwerk.pipeline.reports" in graph["kanalwerk.daemon"]
    assert "kanalwerk.pipeline" in graph["kanalwerk.daemon"]  # the package runs first
    assert "kanalwerk.config" in graph["kanalwerk.health"]  # under TYPE_CHECKING
    assert "kanalwerk.status.read" not in graph["kanalwerk.cli"]  # inside a function


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = _graph()
    circles = [c for name in sorted(graph) if (c := _circle_from(name, graph))]
    assert circles == []


def test_only_the_callers_import_the_pipeline() -> None:
    """Health, status and the stages sit below the composition root and never reach it."""
    graph = _graph()
    importers = {
        name
        for name, targets in graph.items()
        if not name.startswith("kanalwerk.pipeline")
        and any(t == "kanalwerk.pipeline" or t.startswith("kanalwerk.pipeline.") for t in targets)
    }
    assert importers <= PIPELINE_CALLERS


def test_the_stages_log_as_the_pipeline() -> None:
    """`--log-format json` names the logger as the event of a line without one."""
    stages = (pipeline, articles, poll, publishing, translating)
    assert {stage.log.name for stage in stages} == {"kanalwerk.pipeline"}
