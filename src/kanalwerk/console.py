"""The `kanalwerk` console script's entry point.

Kept free of imports on purpose: parse worker processes start by re-importing the
script that started the parent, and importing the CLI there would load the store, HTTP
client and config models into every worker (about 40 MB each) for nothing.
"""

from __future__ import annotations


def main() -> None:
    from kanalwerk.cli import main as cli_main

    cli_main()
