"""``python -m csv_import_daemon`` is the same as the ``csv-import-daemon`` command."""

import sys

from csv_import_daemon.cli.main import main

sys.exit(main())
