"""A mistyped setting stops ``hitmachine serve`` before it listens (issue 15, "late
validation"): it used to start a healthy-looking server that answered 500 to every request.
The real entry point, in a temporary directory after ``hitmachine init``."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_operator_errors import assert_one_line_error, clean_env, hitmachine, run
from tests.live_server import free_port


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("instance")
    result = run(home, "init")
    assert result.returncode == 0, result.stderr
    return home


def serve(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``hitmachine serve`` on a free loopback port; a server still running after the
    timeout is stopped, and counts as having started."""
    port = str(free_port())
    server = subprocess.Popen([*hitmachine(), "serve", "--host", "127.0.0.1", "--port", port],
                              cwd=cwd, env=clean_env(**env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGTERM)
        out, err = server.communicate(timeout=20)
        pytest.fail(f"serve started despite the bad setting:\n{err}")
    return subprocess.CompletedProcess(server.args, server.returncode, out, err)


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("HITMACHINE_RATE_LIMIT_PER_TOKEN", "1200/minuet", "is not a rate limit"),
    ("HITMACHINE_TIMEZONE", "Europe/Amsterdm", "is not a known time zone"),
    ("HITMACHINE_SIGN_IN_LIMIT_TOTAL", "60/minuet", "is not a rate limit"),
    ("HITMACHINE_LOG_LEVEL", "loud", "is not a log level"),
    ("HITMACHINE_OIDC_ISSUER", "htp://idp.gemeente.example", "is not an https URL"),
])
def test_serve_refuses_a_bad_setting_in_one_line(initialised: Path, variable: str, value: str,
                                                 said: str) -> None:
    result = serve(initialised, **{variable: value})
    line = assert_one_line_error(result, variable, said)
    assert value not in line


def test_every_command_refuses_it_the_same_way(initialised: Path) -> None:
    for args in (("token", "list"), ("audit", "verify"), ("keys", "list")):
        result = run(initialised, *args, HITMACHINE_TIMEZONE="Europe/Amsterdm")
        assert_one_line_error(result, "HITMACHINE_TIMEZONE", "is not a known time zone")


def test_keyservice_commands_refuse_a_bad_setting(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    for args in (("keyservice", "init"), ("keyservice", "serve", "--port", str(free_port())),
                 ("keyservice", "audit")):
        result = run(tmp_path, *args, HITMACHINE_KEYSERVICE_DIR="a-file")
        assert_one_line_error(result, "HITMACHINE_KEYSERVICE_DIR", "is a file")
