"""Entry point of the frozen Duet. freeze_support() lets the engine's worker processes start
from the frozen executable (multiprocessing spawns it again with a marker argument)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop.cli import main

    sys.exit(main())
