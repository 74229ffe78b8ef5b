"""`python -m riffusion_core` runs the `riffusion` command line."""

import sys

from riffusion_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
