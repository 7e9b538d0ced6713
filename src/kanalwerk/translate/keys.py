"""API keys: read from the environment, and kept out of every message.

`feeds.yaml` names the environment variable, never the key itself. An error body may
echo the key (some APIs quote the rejected one), so it is masked before anything is
cut to length: cutting first could split the key and leave a part of it unmasked.
"""

from __future__ import annotations

import os
import re

from kanalwerk.errors import Blame, TranslationError
from kanalwerk.logs import printable

#: Most characters of a server's error message kept in a log line or `items.last_error`.
MAX_DETAIL_CHARS = 200

#: OpenAI-style keys (`sk-…`, also DeepSeek's), masked even when they are not ours.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{3,}")


def key_from_env(variable: str | None) -> str | None:
    """The key in the environment variable `variable`; None when unnamed, unset or blank."""
    if not variable:
        return None
    return os.environ.get(variable, "").strip() or None


def require_key(variable: str, engine: str, hint: str = "") -> str:
    """The key in `variable`, or an error naming the variable (never a value) to set.

    `hint` is appended to the message, e.g. how to run without a key.
    """
    key = key_from_env(variable)
    if key is None:
        raise TranslationError(
            f"{engine} needs an API key: set the environment variable {variable}{hint}",
            blame=Blame.ENGINE,
        )
    return key


def error_detail(text: str, key: str | None) -> str:
    """A server's error text fit for logs and `items.last_error`.

    `key` and key-like tokens are masked, control characters escaped, and only then is
    the text cut to `MAX_DETAIL_CHARS`.
    """
    if key:
        text = text.replace(key, "***")
    text = printable(_KEY_LIKE.sub("sk-***", text).strip())
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"
