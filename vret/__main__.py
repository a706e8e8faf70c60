"""``python -m vret`` is the ``vret`` command."""

from vret.cli import main

raise SystemExit(main())
