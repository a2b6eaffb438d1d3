"""`python -m bot.cli` runs the same command line as `stadtfunk`."""

import sys

from bot.cli.main import main

sys.exit(main())
