"""``python -m pilotzone.pipelines.cli``: the ``pilotzone`` command without its script."""

import sys

from pilotzone.pipelines.cli import main

sys.exit(main())
