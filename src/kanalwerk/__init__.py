"""kanalwerk: turn chosen channels' feeds into a German-language blog."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kanalwerk")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
