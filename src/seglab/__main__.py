"""Run seglab as ``python -m seglab``."""

from seglab.cli import main

if __name__ == "__main__":  # not when a tool (pytest's doctest collector) imports the module
    raise SystemExit(main())
