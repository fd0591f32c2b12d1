"""``python -m signbridge``: the same command line as the ``signbridge`` entry point."""
import sys

from signbridge.cli import main

sys.exit(main())
