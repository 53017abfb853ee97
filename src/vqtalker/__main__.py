import sys

from vqtalker.cli import main

sys.exit(main())
