"""``hitmachine-adapter`` as cron runs it: settings from a config file (the command line
wins), one summary line on stdout, no progress bar off a terminal, exit codes by cause."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hitmachine.core.keystore import create_keyring
from hitmachine_adapter.cli import app
from hitmachine_adapter.progress import Reporter
from tests.adapter.conftest import people, write_plain

runner = CliRunner()


@pytest.fixture
def agency_dir(tmp_path: Path) -> Path:
    """What an agency's administrator sets up: an export, a keyring, a config file."""
    create_keyring(tmp_path / "keyring.json")
    crowd = people(5, seed=11)
    crowd[2]["bsn"] = "123456789"                        # a reject
    write_plain(tmp_path / "export.csv", crowd)
    (tmp_path / "om.toml").write_text('agency = "om"\nsource = "export.csv"\n'
                                      'keyring = "keyring.json"\nstate_dir = "state"\n'
                                      "dry_run = true\nmax_reject_fraction = 0.5\n")
    return tmp_path


def test_a_config_file_keeps_the_cron_line_short(agency_dir: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(agency_dir / "om.toml")])
    assert result.exit_code == 0, result.output
    # One line: rows read, entries, rejected, duration. No progress bar: not a terminal.
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("om: 5 rows read, 4 entries to publish, 1 rejected, ")
    assert result.stderr == ""
    # Paths in the file are relative to the file: the state and rejects went there, and
    # the summary says where the rejects are (issue 14 item 8).
    rejects = agency_dir / "state" / "rejects.csv"
    assert rejects.read_text().count("\n") == 2
    assert result.stdout.rstrip().endswith(f"; rejects in {rejects}")
    # A dry run is no run monitoring should see: last-run.json is left as it was.
    assert not (agency_dir / "state" / "last-run.json").exists()


def test_the_command_line_wins_over_the_config_file(agency_dir: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(agency_dir / "om.toml"),
                                 "--max-reject-fraction", "0.1"])
    assert result.exit_code == 3                          # rejects limit
    assert "1 of 5 rows rejected" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("extra", "says"), [
    ("colour = \"red\"\n", "colour is not a known setting"),
    ("batch_size = \"many\"\n", "batch_size must be a int"),
    ("token = \"hm_secret\"\n", "holds a token but"),     # a token in a world-readable file
])
def test_a_bad_config_file_is_a_usage_error(agency_dir: Path, extra: str, says: str) -> None:
    config = agency_dir / "om.toml"
    config.write_text(config.read_text() + extra)
    config.chmod(0o644)
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 2
    assert says in result.stderr and "hm_secret" not in result.stderr


def test_without_a_server_nothing_is_sent_and_it_says_how(agency_dir: Path) -> None:
    result = runner.invoke(app, ["sync", "--agency", "om", "--source",
                                 str(agency_dir / "export.csv"), "--keyring",
                                 str(agency_dir / "keyring.json")])
    assert result.exit_code == 2 and "--server is required" in result.stderr


def test_the_shipped_mappings_are_listed() -> None:
    result = runner.invoke(app, ["mappings"])
    names = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert names == ["leerplicht", "om", "plain", "reclassering", "regieteams", "schuldhulp"]
    assert "BROKEN" not in result.stdout


def test_a_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    shown = Reporter(progress=True, quiet=False, stream=stream)
    with shown.task("reading", 1000, "rows") as update:
        update(500)
    assert "reading" in stream.getvalue() and "1,000 / 1,000 rows" in stream.getvalue()
    monkeypatch.setattr("sys.stderr", io.StringIO())    # as in cron: not a terminal
    assert not Reporter.for_terminal()._enabled
    quiet = io.StringIO()
    with Reporter(progress=True, quiet=True, stream=quiet).task("reading", 10, "rows") as update:
        update(5)
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------- help (issue 14 item 9)

def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("TERMINAL_WIDTH", None)
    done = subprocess.run([sys.executable, "-m", "hitmachine_adapter.cli", *args, "--help"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


@pytest.mark.parametrize("command", ["sync", "status", "mappings"])
def test_help_at_80_columns_shows_every_option_whole(command: str) -> None:
    text = _help(command)
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        for name in param.opts + param.secondary_opts:
            assert re.search(rf"(^|[\s,/]){re.escape(name)}(\s|,|$)", text, re.MULTILINE), \
                f"{name} not shown whole:\n{text}"
    assert max(len(line) for line in text.splitlines()) <= 80
    for sign in ("…", "``", "<bool>", "╭"):
        assert sign not in text, f"{sign!r} in the help of {command}:\n{text}"
    if command == "sync":  # the defaults written into help texts survive (no markup)
        assert "[default: keyservice.token beside" in " ".join(text.split())
        assert "[default: 7200]" in text


def test_the_command_list_is_not_cut_off() -> None:
    text = _help()
    listed = text.split("Commands:")[1]
    assert "..." not in listed and "…" not in listed
    assert {line.split()[0] for line in listed.strip().splitlines()} == {
        "sync", "status", "signals", "mappings"}


# ----------------------------------------------------------------- messages (issue 14 item 8)

@pytest.fixture
def sql_agency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reclassering administrator: a config file beside a SQLite database, named by a
    relative URL, and a run from another working directory (as cron does)."""
    from tests.adapter.conftest import load_reclassering

    create_keyring(tmp_path / "keyring.json")
    next(load_reclassering(f"sqlite:///{tmp_path / 'clients.db'}"))
    (tmp_path / "reclassering.toml").write_text(
        'agency = "reclassering"\nsource = "sqlite:///clients.db"\nkeyring = "keyring.json"\n'
        'state_dir = "state"\ndry_run = true\nmax_reject_fraction = 0.5\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


def test_a_relative_sqlite_source_is_found_beside_the_config_file(sql_agency: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(sql_agency / "reclassering.toml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("reclassering: 37 rows read, 36 entries to publish, 1 rejected")
    assert list((sql_agency / "elsewhere").iterdir()) == []     # nothing made in the cwd


def test_a_missing_sqlite_source_is_an_error_and_is_not_created(sql_agency: Path) -> None:
    config = sql_agency / "reclassering.toml"
    config.write_text(config.read_text().replace("clients.db", "typo.db"))
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: the source database {sql_agency / 'typo.db'} does "
                                     "not exist (a SQLite source is only read, never created)")
    assert not (sql_agency / "typo.db").exists()
    assert not (sql_agency / "elsewhere" / "typo.db").exists()


def test_rejects_from_a_database_name_the_mappings_reference_column(sql_agency: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(sql_agency / "reclassering.toml")])
    assert result.exit_code == 0, result.output
    lines = (sql_agency / "state" / "rejects.csv").read_text().splitlines()
    assert lines[0] == "row,line,fields,reason,reference"
    _row, line, fields, _reason, reference = lines[1].split(",")
    assert (line, fields) == ("", "date_of_birth") and reference.isdigit()
    import sqlite3

    db = sqlite3.connect(sql_agency / "clients.db")
    bsn, born = db.execute("SELECT bsn, geboortedatum FROM client WHERE id = ?",
                           (int(reference),)).fetchone()
    assert born is None                     # the sample's one row without a birth date
    assert bsn is None or bsn not in lines[1]


def test_an_unreachable_postgresql_source_says_where_and_why(tmp_path: Path) -> None:
    create_keyring(tmp_path / "keyring.json")
    port = _free_port()
    result = runner.invoke(app, ["sync", "--agency", "reclassering", "--dry-run", "--source",
                                 f"postgresql://reader:s3cret-pw@127.0.0.1:{port}/clients",
                                 "--keyring", str(tmp_path / "keyring.json"),
                                 "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "s3cret-pw" not in message
    assert message.startswith(f"error: cannot connect to the source database "
                              f"postgresql+psycopg://reader:***@127.0.0.1:{port}/clients: ")
    assert "refused" in message.lower()


def test_with_the_server_down_it_says_where_why_and_that_it_retries(agency_dir: Path) -> None:
    (agency_dir / "token").write_text("hm_token")
    (agency_dir / "token").chmod(0o600)
    down = f"http://127.0.0.1:{_free_port()}"
    result = runner.invoke(app, ["sync", "--agency", "om", "--source",
                                 str(agency_dir / "export.csv"), "--keyring",
                                 str(agency_dir / "keyring.json"), "--max-reject-fraction", "0.5",
                                 "--state-dir", str(agency_dir / "state"), "--server", down,
                                 "--token-file", str(agency_dir / "token"), "--retries", "2"])
    assert result.exit_code == 5, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"cannot reach the server at {down}: ConnectError: ")
    assert lines[0].endswith("; attempt 1 of 3, trying again in 1s")
    assert lines[1].endswith("; attempt 2 of 3, trying again in 2s")
    assert lines[-1].startswith(f"error: cannot reach the server at {down}: ConnectError: ")
    assert "refused" in lines[-1].lower() and "(after 3 attempts in " in lines[-1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
