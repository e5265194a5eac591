"""``python -m cosem_reader`` runs the command line."""

import sys

from cosem_reader.app.cli import main

sys.exit(main())
