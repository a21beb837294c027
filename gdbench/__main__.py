import sys

from gdbench.cli import main

sys.exit(main())
