"""kanalwerk: turn chosen channels' feeds into a German-language blog."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata only when asked for.

    `importlib.metadata` costs more to import than the rest of `kanalwerk --help`.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("kanalwerk")
    except PackageNotFoundError:  # running from a source tree without installation
        found = "0.0.0"
    globals()["__version__"] = found  # asked once; later lookups find the attribute
    return found
