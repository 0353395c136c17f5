"""Report cells read fast stay what they were: canonical decimals, aligned tables."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from csv_import_daemon.trips.render import decimal_text, display, table_text


def _canonical(value: Decimal) -> str:
    """The definition: normalized (to the context's 28 digits), without an exponent."""
    return "0" if value == 0 else format(value.normalize(), "f")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[display(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


amounts = st.builds(  # built from text: scaleb would round to the context's 28 digits
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=-(10**35), max_value=10**35),
    st.integers(min_value=-12, max_value=8),
)


@given(amounts)
def test_decimal_text_is_the_normalized_text(value: Decimal) -> None:
    """Plain digits, exponents, 28 digits and more (normalize rounds those), zeros."""
    assert decimal_text(value) == _canonical(value)


def test_decimal_text_of_stored_shapes() -> None:
    long = "123456789012345678901234567890.5"  # normalize rounds it to 28 digits
    shapes = ("18926.00", "-0.50", "10.0", "100", "0.00", "-0", "1E+2", "1E-9", "0.0000001")
    for text in (*shapes, long):
        assert decimal_text(Decimal(text)) == _canonical(Decimal(text)), text
    assert decimal_text(Decimal("18926.00")) == "18926"
    assert decimal_text(Decimal("1E+2")) == "100"


cells = st.one_of(st.none(), st.text(max_size=6), st.integers(), amounts)


@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda n: st.tuples(
            st.lists(st.text(min_size=0, max_size=5), min_size=n, max_size=n),
            st.lists(st.lists(cells, min_size=n, max_size=n), max_size=6),
        )
    )
)
def test_table_text_lays_out_as_it_did(table: tuple[list[str], list[list[Any]]]) -> None:
    header, rows = table
    assert table_text(header, rows) == _table(header, rows)
