"""`python -m jitmnn ...` runs the same CLI as the `jitmnn` command."""

import sys

from .cli import main

sys.exit(main())
