"""Error texts: pydantic's errors and found values said in YAML terms, with a fix."""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from kanalwerk.config.lines import KeyPath


def fail(message: str) -> PydanticCustomError:
    """A validation error whose message is shown to the user as is."""
    return PydanticCustomError("kanalwerk", message)


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


def describe(err: Any, lines: dict[KeyPath, int], root: type[BaseModel]) -> tuple[int, str]:
    """One pydantic error as (line, 'key.path: what was found, what is expected').

    `root` is the model that validated the whole file, for suggesting allowed keys.
    """
    loc: KeyPath = tuple(part for part in err["loc"] if part != "[key]")
    if loc[:3] == ("translator", "budget", "*") and loc[:3] not in lines:
        shown = loc[:2] + loc[3:]  # the single-budget form was filed under '*'
    elif "title_or_text" in loc and loc[: loc.index("title_or_text") + 1] not in lines:
        shown = tuple(p for p in loc if p != "title_or_text")  # a plain include/exclude list
    else:
        shown = loc
    line = next((lines[shown[:n]] for n in range(len(shown), -1, -1) if shown[:n] in lines), 1)
    kind, found = err["type"], err.get("input")
    if kind == "kanalwerk":
        text = err["msg"]
    elif kind == "missing":
        text = "required key is missing"
    elif kind == "extra_forbidden":
        text = "unknown key; " + _suggest(loc, root)
    elif loc[:1] == ("store",):  # the URL may hold a password: never echo it
        text = err["msg"]
    elif kind == "literal_error":
        text = f"found {show(found)}; expected {err['ctx']['expected']}"
    elif kind == "string_type" and isinstance(found, bool):
        text = f"found {show(found)}; expected text (quote it: YAML reads yes/no as true/false)"
    elif kind == "too_short":
        text = "is empty; add at least one entry"
    elif kind in _EXPECTED:
        text = f"found {show(found)}; expected {_EXPECTED[kind]}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        text = f"found {show(found)}; {msg[:1].lower()}{msg[1:]}"
    return line, f"{dotted(shown)}: {text}" if shown else text


def _suggest(loc: KeyPath, root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    if model is None:
        return "remove it"
    hidden = {"path"} if model is root else set()  # set by --config, not in the file
    allowed = sorted(k for k in model.model_fields if k not in hidden)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "allowed keys: " + ", ".join(allowed)


def _model_at(loc: KeyPath, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (for listing its keys)."""
    current: Any = root
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


def dotted(path: tuple[object, ...]) -> str:
    """('channels', 2, 'url') -> 'channels[2].url'."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w-]*|\*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def show(value: Any) -> str:
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
