"""The ``[commissions]`` table: read, validated, and applied to a fill's commission."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from csv_import_daemon.config.commissions import CommissionRate, CommissionSchedule
from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.errors import ConfigError


def _load(tmp_path: Path, body: str) -> dict[str, CommissionRate]:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return dict(load_settings({"source_timezone": "UTC"}, environ={}, config_file=path).commissions)


def test_per_side_and_round_turn_rates_are_read_exactly(tmp_path: Path) -> None:
    """per_side is per contract per fill; round_turn is split half per side; a whole number
    is exact too; apply_to_zero is off unless given; roots are matched in upper case."""
    table = _load(
        tmp_path,
        '[commissions.MNQ]\nper_side = "0.62"\ncurrency = "USD"\n'
        '[commissions.es]\nround_turn = "4.25"\ncurrency = "usd"\napply_to_zero = true\n'
        '[commissions.FDAX]\nper_side = 2\ncurrency = "EUR"\n',
    )
    assert table == {
        "MNQ": CommissionRate(Decimal("0.62"), "USD", False),
        "ES": CommissionRate(Decimal("2.125"), "USD", True),
        "FDAX": CommissionRate(Decimal(2), "EUR", False),
    }


def test_the_environment_gives_the_table_inline() -> None:
    settings = load_settings(
        {"source_timezone": "UTC"},
        environ={"CSV_IMPORT_COMMISSIONS": '{ MNQ = { per_side = "0.52", currency = "USD" } }'},
    )
    assert dict(settings.commissions) == {"MNQ": CommissionRate(Decimal("0.52"), "USD")}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            'per_side = 0.62\ncurrency = "USD"',
            "commissions.MNQ.per_side (from {path}): 0.62 is a floating-point number, which "
            'cannot hold money exactly; write it as a string: "0.62"',
            id="float",
        ),
        pytest.param('per_side = "0.62"', "currency is required", id="no-currency"),
        pytest.param(
            'per_side = "0.62"\ncurrency = "$"', "is not a 3-letter ISO code", id="symbol"
        ),
        pytest.param(
            'per_side = "0.62"\nround_turn = "1.24"\ncurrency = "USD"',
            "give exactly one of per_side",
            id="both",
        ),
        pytest.param('currency = "USD"', "give exactly one of per_side", id="no-amount"),
        pytest.param('per_side = "-1"\ncurrency = "USD"', "of 0 or more", id="negative"),
        pytest.param('per_side = "abc"\ncurrency = "USD"', "is not a decimal", id="text"),
        pytest.param(
            'per_side = "0.62"\ncurrency = "USD"\nper_fill = "1"', "unknown key", id="key"
        ),
        pytest.param(
            'per_side = "0.62"\ncurrency = "USD"\napply_to_zero = "yes"',
            "apply_to_zero 'yes' is not a boolean",
            id="bool",
        ),
        pytest.param(
            'round_turn = "0.000000001"\ncurrency = "USD"', "more than 8 decimal places", id="dp"
        ),
        pytest.param('per_side = "500"\ncurrency = "USD"', "more than 400", id="huge"),
    ],
)
def test_an_unusable_entry_is_a_configuration_error_naming_the_setting(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match=re.escape(expected.format(path=path))):
        _load(tmp_path, f"[commissions.MNQ]\n{body}\n")


def test_a_root_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"commissions\.MNQ .*is not a table"):
        _load(tmp_path, '[commissions]\nMNQ = "0.62"\n')


def test_the_schedule_fills_what_the_file_left_empty_and_only_then() -> None:
    """Rate x quantity, exact, for a fill whose file gives none; a file's amount is kept;
    a file's zero is kept unless apply_to_zero; a root without an entry gets nothing."""
    schedule = CommissionSchedule(
        {
            "MNQ": CommissionRate(Decimal("0.62"), "USD"),
            "ES": CommissionRate(Decimal("2.125"), "USD", apply_to_zero=True),
        }
    )
    zero = Decimal("0.00")
    assert schedule.applied("MNQ 06-26", 3, None, None) == (Decimal("1.86"), "USD", "schedule")
    assert schedule.applied("MNQM6", 1, None, None) == (Decimal("0.62"), "USD", "schedule")
    assert schedule.applied("MNQ JUN26", 2, zero, "USD") == (zero, "USD", "file")
    assert schedule.applied("MNQ JUN26", 2, Decimal("1.04"), "EUR") == (
        Decimal("1.04"),
        "EUR",
        "file",
    )
    assert schedule.applied("ES 06-26", 3, zero, "USD") == (
        Decimal("6.375"),
        "USD",
        "schedule_over_zero",
    )
    assert schedule.applied("NQ 06-26", 3, None, None) == (None, None, None)
    assert schedule.applied("NQ 06-26", 3, zero, None) == (zero, None, "file")
