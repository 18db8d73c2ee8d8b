"""Help that reads well at 80 columns, and lists with headings (issue 14 item 9)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hitmachine.cli.main import app
from tests.cli.test_operator_errors import assert_one_line_error, run


def every_command() -> list[tuple[str, ...]]:
    """Every command path of ``hitmachine``, groups included (the root is ``()``)."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):  # a group (typer's own click, not the click package)
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


@pytest.mark.parametrize("path", every_command(), ids=lambda p: " ".join(p) or "hitmachine")
def test_help_at_80_columns(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"},
                                prog_name="hitmachine", terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text  # not on --help, nor on any flag
    assert "``" not in text and "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    cut = [line for line in text.splitlines()  # a description shortened by click
           if line.rstrip().endswith("...") and not line.startswith("Usage:")]
    assert not cut, text
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--"):
                assert opt in text, (opt, text)  # whole, never cut


def test_help_of_the_real_command(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--help")
    assert result.returncode == 0
    assert "--require-client-cert / --no-require-client-cert" in result.stdout
    assert "<bool>" not in result.stdout and "…" not in result.stdout



def test_lists_have_headings(instance: Path) -> None:
    created = run(instance, "token", "create", "--role", "coordinator", "--name", "Cora")
    assert created.returncode == 0, created.stderr
    made = run(instance, "user", "create", "--role", "coordinator", "--name", "Cas",
               stdin="paard-batterij-nietje\n")
    assert made.returncode == 0, made.stderr
    tokens = run(instance, "token", "list").stdout.splitlines()
    assert tokens[0].split("\t") == ["id", "role", "agency", "state", "name"]
    assert tokens[1].split("\t")[1:] == ["coordinator", "-", "active", "Cora"]
    users = run(instance, "user", "list").stdout.splitlines()
    assert users[0].split("\t") == ["id", "role", "state", "second factor", "last sign-in",
                                     "name"]
    assert users[1].endswith("\tCas")
    keys = run(instance, "keys", "list").stdout.splitlines()
    assert keys[0].split("\t") == ["version", "state", "created"]
    subject = run(instance, "audit", "subject", stdin="111222333\n")
    assert subject.returncode == 0, subject.stderr
    assert subject.stdout.splitlines()[0].split("\t")[:3] == ["seq", "recorded_at", "event"]


def test_key_service_lists_have_headings_and_serve_refuses_a_taken_port(tmp_path: Path) -> None:
    env: dict[str, Any] = {"HITMACHINE_KEYSERVICE_DIR": str(tmp_path / "ks")}
    assert run(tmp_path, "keyservice", "init", **env).returncode == 0
    assert run(tmp_path, "keyservice", "token", "create", "--name", "om", **env).returncode == 0
    versions = run(tmp_path, "keyservice", "versions", **env).stdout.splitlines()
    assert versions[0].split("\t") == ["version", "state", "created"]
    assert versions[1].startswith("1\tactive\t")
    tokens = run(tmp_path, "keyservice", "token", "list", **env).stdout.splitlines()
    assert tokens[0].split("\t") == ["id", "state", "per minute", "per day", "name"]
    assert tokens[1].endswith("\tom")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = run(tmp_path, "keyservice", "serve", "--port", str(port), **env)
    assert_one_line_error(served, f"port {port}", "is taken")
