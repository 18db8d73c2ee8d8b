"""``hitmachine-adapter`` as cron runs it: settings from a config file (the command line
wins), one summary line on stdout, no progress bar off a terminal, exit codes by cause."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.cli import app
from adapters.progress import Reporter
from hitmachine.keystore import create_keyring
from tests.adapters.conftest import people, write_plain

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
    # Paths in the file are relative to the file: the state and rejects went there.
    assert (agency_dir / "state" / "rejects.csv").read_text().count("\n") == 2
    last = json.loads((agency_dir / "state" / "last-run.json").read_text())
    assert (last["outcome"], last["rows_read"], last["rejected"]) == ("ok", 5, 1)


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


# --------------------------------------------------------------------------- help (issue 14 item 9)

def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("TERMINAL_WIDTH", None)
    done = subprocess.run([sys.executable, "-m", "adapters.cli", *args, "--help"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


@pytest.mark.parametrize("command", ["sync", "status", "mappings"])
def test_help_at_80_columns_shows_every_option_whole(command: str) -> None:
    text = _help(command)
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        for name in param.opts + param.secondary_opts:
            assert re.search(rf"(^|[\s,/]){re.escape(name)}(\s|,|$)", text, re.M), \
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
        "sync", "status", "mappings"}
