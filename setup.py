"""Package discovery: every package under src/, plus the Alembic scripts mapped from alembic/.

Everything else is in pyproject.toml; setuptools' ``packages.find`` cannot add the two
packages that ``package-dir`` maps from the repository root, so they are named here.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages("src"),
        "csv_import_daemon.migrations",
        "csv_import_daemon.migrations.versions",
    ]
)
