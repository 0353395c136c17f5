"""Names vulture sees defined but never used, that are used: by SQLAlchemy, watchdog, the
journal page's template, or tests. ``./run lint`` runs vulture over src/ and this file;
anything else it reports is dead code to delete, not a name to add here."""

# ruff: noqa: B018 - each line is a use, for vulture's eyes only

from csv_import_daemon.daemon.watcher import _QueueingHandler
from csv_import_daemon.db import migrate
from csv_import_daemon.db.models import ExactDecimal, WideDecimal
from csv_import_daemon.reports import page
from csv_import_daemon.reports.journal_charts import Bar, Curve
from csv_import_daemon.reports.journal_data import Health
from csv_import_daemon.reports.journal_stats import Drawdown, Summary
from csv_import_daemon.trips.refresh import Refreshed

# SQLAlchemy's TypeDecorator protocol.
for decorator in (ExactDecimal, WideDecimal):
    decorator.impl
    decorator.cache_ok
    decorator.load_dialect_impl
ExactDecimal.process_bind_param
ExactDecimal.process_result_value

# watchdog calls the handler's dispatch; tests read its failure count.
_QueueingHandler.dispatch
_QueueingHandler.failures

# The journal page's template reads these.
Curve.drawdown, Curve.zero_y, Curve.first_day, Curve.last_day
Bar.x, Bar.height, Bar.positive
Health.problem_files
Drawdown.trough_day
Summary.drawdown, Summary.win_rate, Summary.profit_factor, Summary.expectancy
Summary.average_win, Summary.average_loss

# Used by tests and tools: the migration check, the page's rows read back, refresh counts.
migrate.is_current
page.unpack
Refreshed.recomputed
