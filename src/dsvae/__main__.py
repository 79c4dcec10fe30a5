"""``python -m dsvae``: the same command line as ``dsvae``."""

from .cli import main

raise SystemExit(main())
