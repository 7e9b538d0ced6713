"""`python -m kanalwerk`, the same as the `kanalwerk` command."""

from kanalwerk.console import main

if __name__ == "__main__":
    main()
