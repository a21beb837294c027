import sys

from gdbench.cli.commands import main

sys.exit(main())
