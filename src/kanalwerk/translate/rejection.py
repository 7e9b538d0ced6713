"""Whose fault a refused request (HTTP 4xx) is: the text's, or the engine's settings'.

A key, a model or a parameter the API refuses fails every item alike, so it must not
count attempts against them (`Blame.ENGINE`); a text too long, or one a content filter
or a markup parser rejects, is that item's (`Blame.ITEM`). The status says most of it;
a 400 or 422 is told apart by what the API's message names. A 400 that names neither
stays the item's: the pipeline's failure streak catches an engine that refuses
everything.
"""

from __future__ import annotations

import re

from kanalwerk.errors import Blame

#: Refusals of the request's size: always the item's.
TOO_LARGE = frozenset({413, 414})
#: Statuses whose meaning depends on the message: "bad request", "unprocessable".
DEPENDS_ON_MESSAGE = frozenset({400, 422})

#: What a message says about the text itself (checked first: "This model's maximum
#: context length is …" names the model, but it is the text that is too long).
_ABOUT_THE_TEXT = re.compile(
    r"too (?:long|large|many tokens)|context[ _](?:length|window)|maximum context"
    r"|string_above_max_length|content[ _-]?(?:filter|policy|management)|safety"
    r"|pars(?:e|ing) (?:error|failed)|parsing|language pair|'source_lang'",
    re.IGNORECASE,
)


def rejection_blame(status: int, message: str, names_settings: re.Pattern[str]) -> Blame:
    """`ITEM` for a refusal of this text, `ENGINE` for one of the key, model or settings.

    `names_settings` matches what the engine's messages say when a setting is wrong
    (a parameter's name, "model").
    """
    if status in TOO_LARGE:
        return Blame.ITEM
    if status not in DEPENDS_ON_MESSAGE:
        return Blame.ENGINE  # 401/403 keys, 404 model or endpoint, 405…: no text helps
    if _ABOUT_THE_TEXT.search(message):
        return Blame.ITEM
    if names_settings.search(message):
        return Blame.ENGINE
    return Blame.ITEM
