"""``python -m tools.synthetic --out DIR [--seed N]``."""

from tools.synthetic.cli import main

raise SystemExit(main())
