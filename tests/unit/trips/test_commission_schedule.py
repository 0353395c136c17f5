"""The commissions setting through the real importer and commands (SQLite and PostgreSQL):
fills whose file gives no commission get the schedule's, with its source kept and shown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from support.trip_reference import normalized, reference_round_trips, stored_round_trips, trades_of
from support.trips import DAY1, cli, cli_json, row, write

CHANGED = (
    '[commissions.MNQ]\nper_side = "0.52"\ncurrency = "USD"\n'
    '[commissions.ES]\nround_turn = "4.50"\ncurrency = "USD"\n'
    '[commissions.NQ]\nper_side = "1.25"\ncurrency = "EUR"\n'
)

MNQ_AND_ES = (
    '[commissions.MNQ]\nper_side = "0.62"\ncurrency = "USD"\n'
    '[commissions.ES]\nround_turn = "4.50"\ncurrency = "USD"\napply_to_zero = true\n'
)


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('source_timezone = "America/New_York"\n' + body, encoding="utf-8")
    return path


def _cli(settings: Settings, config: Path, *args: str) -> str:
    done = cli(*args, "--database", settings.database_url, "--config", str(config))
    assert done.returncode == 0, done.stderr
    return done.stdout


def _fills(tmp_path: Path) -> Path:
    """MNQ without commission (scheduled), MNQ with $0.00 (kept), ES with $0.00 (replaced:
    apply_to_zero), ES with its own $1.10 (kept), NQ without commission (no entry: none)."""
    t = DAY1
    mnq, es, nq = (
        {"instrument": "MNQ MAR25"},
        {"instrument": "ES MAR25"},
        {"instrument": "NQ MAR25"},
    )
    return write(
        tmp_path / "fills.csv",
        [
            row("m1", "Buy", 3, "20000", t, commission="", **mnq),
            row("m2", "Sell", 3, "20010", t + timedelta(minutes=1), commission="$0.00", **mnq),
            row("e1", "Buy", 2, "6000", t, commission="$0.00", **es),
            row("e2", "Sell", 2, "6001", t + timedelta(minutes=1), commission="$1.10", **es),
            row("n1", "Buy", 1, "21000", t, commission="", **nq),
            row("n2", "Sell", 1, "21001", t + timedelta(minutes=1), commission="", **nq),
        ],
    )


def test_fills_without_a_commission_take_the_schedule_and_say_so(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    config = _config(tmp_path, MNQ_AND_ES)
    _cli(settings, config, "import", str(_fills(tmp_path)))
    with engine.connect() as conn:
        stored = {
            r[0]: (None if r[1] is None else Decimal(str(r[1])).normalize(), r[2], r[3])
            for r in conn.execute(
                text(
                    "SELECT execution_id, commission, commission_currency, commission_source "
                    "FROM trades"
                )
            )
        }
    assert stored == {
        "m1": (Decimal("1.86"), "USD", "schedule"),  # 3 x 0.62
        "m2": (Decimal(0), "USD", "file"),  # a genuine $0.00 is kept
        "e1": (Decimal("4.5"), "USD", "schedule_over_zero"),  # 2 x 4.50 / 2
        "e2": (Decimal("1.1"), "USD", "file"),
        "n1": (None, None, None),  # no entry for NQ: nothing guessed
        "n2": (None, None, None),
    }
    trips = {
        t["instrument"]: t
        for t in cli_json(
            "round-trips", "--database", settings.database_url, "--config", str(config)
        )
    }
    mnq, es = trips["MNQ MAR25"], trips["ES MAR25"]
    assert (mnq["pnl"], mnq["commission"], mnq["net_pnl"]) == ("60", "1.86", "58.14")
    assert [
        (e["execution_id"], e["commission"], e["commission_source"]) for e in mnq["executions"]
    ] == [
        ("m1", "1.86", "schedule"),
        ("m2", "0", "file"),
    ]
    assert (es["pnl"], es["commission"], es["net_pnl"]) == ("100", "5.6", "94.4")
    assert [e["commission_source"] for e in es["executions"]] == ["schedule_over_zero", "file"]
    assert trips["NQ MAR25"]["commission"] == "0"
    # The table marks a commission that came from the schedule.
    table = _cli(settings, config, "round-trips")
    assert "1.86*" in table
    assert "5.6*" in table
    assert "commission from the commissions setting" in table
    days = cli_json("pnl", "--by", "day", "--database", settings.database_url)
    assert [(d["currency"], d["pnl"], d["commission"], d["net_pnl"]) for d in days] == [
        ("USD", "180", "7.46", "172.54")
    ]
    assert normalized(stored_round_trips(engine)) == normalized(
        reference_round_trips(trades_of(engine))
    )
    # verify: the schedule's 4.50 where the file says $0.00 is no reading problem.
    verify = cli("verify", "--database", settings.database_url, "--config", str(config), "--json")
    assert verify.returncode == 0, verify.stdout


def _stored(engine: Engine) -> dict[str, tuple[Decimal | None, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT execution_id, commission, commission_currency, commission_source "
                "FROM trades"
            )
        ).all()
    return {
        r[0]: (None if r[1] is None else Decimal(str(r[1])).normalize(), r[2], r[3]) for r in rows
    }


def test_a_changed_schedule_is_flagged_not_applied_until_a_rebuild(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Like a changed point value: stored fills keep their commission, status, verify,
    round-trips and pnl name the roots whose fills another schedule would change, and
    ``round-trips --rebuild`` applies it (each change kept in trade_corrections): a new
    rate, an entry added (NQ), apply_to_zero taken back (ES: the file's zero again)."""
    fills = _fills(tmp_path)
    _cli(settings, _config(tmp_path, MNQ_AND_ES), "import", str(fills))
    before = _stored(engine)
    db = ("--database", settings.database_url)
    config = _config(tmp_path, CHANGED)
    status = cli_json("status", *db, "--config", str(config))
    assert status["round_trips"]["commissions_changed"] == ["ES", "MNQ", "NQ"]
    assert status["round_trips"]["stale"] is True
    verify = cli("verify", *db, "--config", str(config))
    assert verify.returncode == 1
    assert "fills' commissions from another commissions setting (ES, MNQ, NQ)" in verify.stdout
    listed = cli("round-trips", *db, "--config", str(config))
    assert "commissions setting (ES, MNQ, NQ); run `csv-import-daemon round-trips --rebuild`" in (
        listed.stderr
    )
    assert _stored(engine) == before  # never rewritten silently
    _cli(settings, config, "round-trips", "--rebuild")
    after = _stored(engine)
    assert after == {
        **before,
        "m1": (Decimal("1.56"), "USD", "schedule"),  # 3 x 0.52
        "e1": (Decimal(0), None, "file"),  # the file's $0.00 again (its $ not kept)
        "n1": (Decimal("1.25"), "EUR", "schedule"),
        "n2": (Decimal("1.25"), "EUR", "schedule"),
    }
    with engine.connect() as conn:
        corrections = conn.execute(
            text(
                "SELECT execution_id, field, old_value, new_value FROM trade_corrections "
                "ORDER BY execution_id, field"
            )
        ).all()
    amount = {"commission"}
    assert [
        (r[0], r[1], Decimal(r[2]).normalize() if r[1] in amount and r[2] else r[2], r[3])
        for r in corrections
    ] == [  # every field that changed, so the reading before is never lost
        ("e1", "commission", Decimal("4.5"), "0"),
        ("e1", "commission_currency", "USD", None),
        ("e1", "commission_source", "schedule_over_zero", "file"),
        ("m1", "commission", Decimal("1.86"), "1.56"),
        ("n1", "commission", None, "1.25"),
        ("n1", "commission_currency", None, "EUR"),
        ("n1", "commission_source", None, "schedule"),
        ("n2", "commission", None, "1.25"),
        ("n2", "commission_currency", None, "EUR"),
        ("n2", "commission_source", None, "schedule"),
    ]
    assert cli_json("status", *db, "--config", str(config))["round_trips"]["stale"] is False
    trips = {t["instrument"]: t for t in cli_json("round-trips", *db, "--config", str(config))}
    nq = trips["NQ MAR25"]  # a USD contract with a EUR schedule: never netted
    assert (nq["pnl"], nq["commission"], nq["commission_currency"], nq["net_pnl"]) == (
        "20",
        "2.5",
        "EUR",
        None,
    )
    days = cli_json("pnl", "--by", "day", *db)
    assert [(d["currency"], d["pnl"], d["commission"], d["net_pnl"]) for d in days] == [
        ("EUR", "0", "2.5", "-2.5"),  # in its own row, never netted with the USD P&L
        ("USD", "180", "2.66", "177.34"),
    ]
    assert normalized(stored_round_trips(engine)) == normalized(
        reference_round_trips(trades_of(engine))
    )
    # The setting removed: the schedule's commissions go, the files' stay.
    bare = _config(tmp_path, "")
    status = cli_json("status", *db, "--config", str(bare))
    assert status["round_trips"]["commissions_changed"] == ["MNQ", "NQ"]
    _cli(settings, bare, "round-trips", "--rebuild")
    assert _stored(engine) == {
        **after,
        "m1": (None, None, None),
        "n1": (None, None, None),
        "n2": (None, None, None),
    }
    assert cli_json("status", *db, "--config", str(bare))["round_trips"]["stale"] is False


def test_a_repair_re_read_gives_the_schedule_in_force(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """``import --reread --replace`` reads the files again: their fills take the setting in
    force (the old values in trade_corrections); a re-read without --replace changes
    nothing and counts no conflict."""
    fills = _fills(tmp_path)
    _cli(settings, _config(tmp_path, MNQ_AND_ES), "import", str(fills))
    before = _stored(engine)
    config = _config(tmp_path, CHANGED)
    plain = _cli(settings, config, "import", "--reread", str(fills))
    assert "inserted=0 duplicates=6 rejected=0 conflicts=0" in plain
    assert _stored(engine) == before
    _cli(settings, config, "import", "--reread", "--replace", str(fills))
    assert _stored(engine) == {
        **before,
        "m1": (Decimal("1.56"), "USD", "schedule"),
        "e1": (Decimal(0), "USD", "file"),  # read again: the file's $0.00, its $ too
        "n1": (Decimal("1.25"), "EUR", "schedule"),
        "n2": (Decimal("1.25"), "EUR", "schedule"),
    }
    with engine.connect() as conn:
        fields = conn.execute(
            text("SELECT execution_id, field FROM trade_corrections ORDER BY execution_id, field")
        ).all()
    assert [tuple(r) for r in fields] == [
        ("e1", "commission"),
        ("e1", "commission_source"),
        ("m1", "commission"),
        ("n1", "commission"),
        ("n1", "commission_currency"),
        ("n1", "commission_source"),
        ("n2", "commission"),
        ("n2", "commission_currency"),
        ("n2", "commission_source"),
    ]
    assert (
        cli_json("status", "--database", settings.database_url, "--config", str(config))[
            "round_trips"
        ]["stale"]
        is False
    )
    assert normalized(stored_round_trips(engine)) == normalized(
        reference_round_trips(trades_of(engine))
    )


def test_a_currency_changed_alone_logs_the_currency_alone(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The same rate in another currency: one correction (the currency), on both databases
    (PostgreSQL reads 1.86 back as 1.86000000, which is no change of amount)."""
    _cli(settings, _config(tmp_path, MNQ_AND_ES), "import", str(_fills(tmp_path)))
    in_euros = MNQ_AND_ES.replace(
        'per_side = "0.62"\ncurrency = "USD"', 'per_side = "0.62"\ncurrency = "EUR"'
    )
    _cli(settings, _config(tmp_path, in_euros), "round-trips", "--rebuild")
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT execution_id, field, old_value, new_value FROM trade_corrections")
        ).all()
    assert [tuple(r) for r in logged] == [("m1", "commission_currency", "USD", "EUR")]
