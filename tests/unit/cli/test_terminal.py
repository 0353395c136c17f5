"""Text output escapes control characters: a file name or a field that carries terminal
escape sequences is shown as visible escapes by status, import, verify, round-trips and
pnl, and by console-format log lines."""

from __future__ import annotations

from pathlib import Path

from csv_import_daemon.cli.terminal import visible
from support.processes import run_cli
from support.trips import DAY1, row, write

ESC_NAME = "x\x1b]0;pwned\x07\u202e.csv"  # a window title, then a right-to-left override
ESC_ACCOUNT = "acct\x1b[2K\x9b1m"  # erase the line, a C1 CSI


def test_visible_escapes_controls_and_keeps_text() -> None:
    """C0, DEL, C1, line separators and bidirectional overrides become escapes; accents,
    non-Latin text and everything in nested values stay."""
    assert visible("a\x1b[2Kb\x07\x7f\x9b\u2028\u202e\n\t") == (
        "a\\x1b[2Kb\\x07\\x7f\\x9b\\u2028\\u202e\\x0a\\x09"
    )
    assert visible("Müller 東京 €") == "Müller 東京 €"
    report = {"files": [{"file": "a\x1bb", "rows": 3}], "when": None}
    assert visible(report) == {"files": [{"file": "a\\x1bb", "rows": 3}], "when": None}


def raw_controls(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0})


def test_text_commands_show_escapes_not_control_sequences(tmp_path: Path) -> None:
    """A file whose name and account carry escape sequences, through each text command:
    stdout and stderr hold no raw control character, and the escapes are visible."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = write(
        folder / ESC_NAME,
        [
            row("e1", "Buy", 1, "100", DAY1, account=ESC_ACCOUNT),
            row("e2", "Sell", 1, "101", DAY1.replace(second=1), account=ESC_ACCOUNT),
        ],
    )
    db = ["--database", f"sqlite:///{tmp_path / 'j.db'}", "--log-format", "console"]
    runs = {
        "import": run_cli("import", str(path), *db),
        "status": run_cli("status", *db),
        "verify": run_cli("verify", *db),
        "round-trips": run_cli("round-trips", *db),
        "pnl": run_cli("pnl", "--by", "account", *db),
    }
    for name, done in runs.items():
        assert done.returncode == 0, (name, done.stderr)
        assert raw_controls(done.stdout + done.stderr) == [], name
    assert "x\\x1b]0;pwned\\x07\\u202e.csv" in runs["import"].stdout
    assert "x\\x1b]0;pwned\\x07" in runs["status"].stdout
    assert "acct\\x1b[2K\\x9b1m" in runs["round-trips"].stdout
    assert "acct\\x1b[2K\\x9b1m" in runs["pnl"].stdout
