"""``--metrics-address``: the real daemon serves /metrics and /healthz over real HTTP on
127.0.0.1; the counts equal what the database holds, and health follows the database."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.errors import ConfigError
from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal, sqlite_url
from support.proxy import OUTAGE_ENV, CuttableProxy
from support.rows import append, make_rows, write_csv
from support.waiting import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(port: int) -> Samples:
    status, body = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def health(port: int) -> tuple[int, dict[str, str]]:
    status, body = get(port, "/healthz")
    return status, json.loads(body)


def rows_total(samples: Samples, result: str) -> float:
    return samples[("csv_import_rows_total", (("result", result),))]


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


@pytest.mark.daemon
def test_metrics_counts_equal_what_the_database_holds(watch: Path, tmp_path: Path) -> None:
    """After imports with new rows, duplicates and a rejected row, /metrics says what the
    database says; labels carry no file names or account names; /healthz is 200."""
    url = sqlite_url(tmp_path)
    port = free_port()
    rows = make_rows(60)
    journal = Journal(url)
    try:
        with start_daemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
            a = write_csv(watch / "a.csv", rows[:40])
            append(a, "MNQ 12-25,Buy,0,1.00,10/31/2025 9:30:00 AM,badqty,,,,,,,SIM101,Feed,\n")
            b = write_csv(watch / "b.csv", rows[30:])  # ten rows overlap a.csv
            for f in (a, b):
                wait_for(
                    lambda f=f: (journal.checkpoint(f) or {}).get("offset"),  # type: ignore[misc]
                    f.stat().st_size,
                    what=f"checkpoint of {f.name}",
                )
            samples = wait_for(
                lambda: scrape(port),
                lambda s: rows_total(s, "inserted") == journal.trades(),
                what="csv_import_rows_total{result=inserted} to reach the trades count",
            )
            checkpoints = journal.rows("SELECT duplicates, rejected, conflicts FROM import_files")
            assert rows_total(samples, "inserted") == journal.trades() == journal.ledger() == 60
            assert rows_total(samples, "duplicate") == sum(c["duplicates"] for c in checkpoints)
            assert rows_total(samples, "duplicate") == 10
            rejections = journal.scalar("SELECT count(*) FROM import_rejections")
            assert rows_total(samples, "rejected") == rejections == 1
            assert rows_total(samples, "conflict") == 0
            assert samples[("csv_import_files_total", (("status", "imported"),))] >= 2
            assert samples[("csv_import_database_up", ())] == 1
            assert samples[("csv_import_observer_up", ())] == 1
            assert samples[("csv_import_append_lag_seconds_count", ())] >= 2
            assert samples[("csv_import_last_import_timestamp_seconds", ())] > 0
            assert ("process_resident_memory_bytes", ()) in samples
            for _, labels in samples:
                for _, value in labels:
                    assert "/" not in value
                    assert "SIM101" not in value
                    assert ".csv" not in value
            assert health(port) == (
                200,
                {"status": "ok", "database": "up", "observer": "up", "importer": "up"},
            )
            assert get(port, "/nothing")[0] == 404
            assert d.events("metrics_listening")[0]["address"] == f"127.0.0.1:{port}"
            assert d.stop() == 0, d.log_text()
    finally:
        journal.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[CuttableProxy]:
    url = make_url(postgres_url)
    p = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield p
    p.close()


@pytest.mark.daemon
@pytest.mark.postgres
def test_healthz_turns_503_when_the_database_goes_away_and_200_after(
    proxy: CuttableProxy, postgres_url: str, watch: Path, tmp_path: Path
) -> None:
    """PostgreSQL cut under a running daemon: /healthz 503 naming the database and
    csv_import_database_up 0; restored: 200 and 1 again, and the file is imported."""
    port = free_port()
    journal = Journal(postgres_url)
    daemon_url = proxy.url(postgres_url)
    try:
        with start_daemon(
            watch, daemon_url, "--metrics-address", f"127.0.0.1:{port}", env=OUTAGE_ENV
        ) as d:
            wait_for(lambda: health(port)[0], 200, what="/healthz 200 after start")
            proxy.cut()
            rows = make_rows(20)
            write_csv(watch / "during-outage.csv", rows)  # the importer meets the outage
            _, body = wait_for(lambda: health(port), lambda h: h[0] == 503)
            assert body["database"] == "down"
            assert body["observer"] == "up"
            assert "database unavailable" in body["reason"]
            assert scrape(port)[("csv_import_database_up", ())] == 0
            proxy.restore()
            wait_for(lambda: health(port)[0], 200, timeout=60, what="/healthz 200 after restore")
            assert scrape(port)[("csv_import_database_up", ())] == 1
            wait_for(journal.trades, 20, timeout=30, what="the file after the outage")
            assert d.stop() == 0, d.log_text()
    finally:
        journal.close()


def test_metrics_address_must_be_host_and_port() -> None:
    """A bad metrics_address is a configuration error that says what is allowed."""
    for bad in ("9108", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:9108", "a b:1"):
        with pytest.raises(ConfigError, match=r"metrics_address .*use HOST:PORT"):
            load_settings({"metrics_address": bad}, environ={})
    settings = load_settings({"metrics_address": "[::1]:9108"}, environ={})
    assert settings.metrics_address == "[::1]:9108"


@pytest.mark.daemon
def test_taken_port_exits_2_and_a_public_address_is_logged(watch: Path, tmp_path: Path) -> None:
    """A port already in use is exit 2 naming it; a non-loopback address is served but
    logged as such at start."""
    url = sqlite_url(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with DaemonProcess(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
            assert d.wait_exit(30) == 2
            [error] = d.events("configuration_error")
            assert f"cannot listen on 127.0.0.1:{port}" in error["error"]
    port = free_port()
    with start_daemon(watch, url, "--metrics-address", f"0.0.0.0:{port}") as d:
        d.wait_event("metrics_not_loopback")
        wait_for(lambda: health(port)[0], 200, what="/healthz on the wildcard address")
        assert d.stop() == 0, d.log_text()
