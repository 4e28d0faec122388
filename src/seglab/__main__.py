"""Run seglab as ``python -m seglab``."""

from seglab.cli import main

raise SystemExit(main())
