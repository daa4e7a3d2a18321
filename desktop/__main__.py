"""`python -m desktop` runs the `duet` command."""

from desktop.cli import main

raise SystemExit(main())
