"""The operator's commands as a new user runs them (issue 14 items 2-7): the real
``hitmachine`` entry point in a temporary directory, answering each common mistake with one
line and a non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hitmachine.settings import Settings
from tests.live_server import free_port

PASSWORD = "s3cret-Pw-9f2c"  # must never be echoed


def hitmachine() -> list[str]:
    """The installed entry point beside this interpreter, as an operator runs it."""
    script = Path(sys.executable).with_name("hitmachine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hitmachine.cli.main"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this machine's HITMACHINE_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITMACHINE_")}
    return {**env, "COLUMNS": "80", **extra}


def run(cwd: Path, *args: str, stdin: str = "", timeout: float = 60,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*hitmachine(), *args], cwd=cwd, env=clean_env(**env), input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, (result.returncode, output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert PASSWORD not in output
    return lines[0]



# --- item 2: before init, or in the wrong directory --------------------------------------

BEFORE_INIT = [
    ("token", "list"), ("token", "create", "--role", "admin", "--name", "x"),
    ("token", "revoke", "1"), ("keys", "export", "--out", "k.json"), ("keys", "rotate"),
    ("keys", "list"), ("user", "create", "--role", "admin", "--name", "x"),
    ("user", "list"), ("user", "unlock", "--name", "x"), ("user", "reset-factor", "x"),
    ("audit", "verify"),
    ("audit", "checkpoint"), ("audit", "export"), ("audit", "subject"), ("audit", "prune"),
    ("audit", "integrate"), ("serve", "--port", "0"),
]


@pytest.mark.parametrize("args", BEFORE_INIT, ids=" ".join)
def test_before_init_every_command_says_run_init(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(tmp_path, *args, stdin="")  # said before a password or a BSN is asked for
    assert_one_line_error(result, "keys/keyring.json", "run 'hitmachine init' first")
    assert list(tmp_path.iterdir()) == []  # no database file made on the way


# --- item 3: a wrong database URL ---------------------------------------------------------

@pytest.mark.parametrize("args", [("token", "list"), ("user", "list"), ("audit", "verify"),
                                  ("serve", "--port", "0"), ("init",)], ids=" ".join)
@pytest.mark.parametrize("url,said", [
    ("not a url :" + PASSWORD, "is not a database URL"),
    (f"postgresql+psycopg://hm:{PASSWORD}@127.0.0.1:notaport/hm", "is not a database URL"),
    (f"mysql://hm:{PASSWORD}@127.0.0.1/hm", "unsupported database (mysql)"),
], ids=["garbage", "bad-port", "mysql"])
def test_a_database_url_that_does_not_parse(instance: Path, args: tuple[str, ...], url: str,
                                            said: str) -> None:
    result = run(instance, *args, HITMACHINE_DATABASE_URL=url)
    assert_one_line_error(result, "HITMACHINE_DATABASE_URL", said)


@pytest.mark.parametrize("args", [("token", "list"), ("keys", "export", "--out", "k.json"),
                                  ("serve", "--port", "0"), ("init",)], ids=" ".join)
def test_no_postgresql_server(instance: Path, args: tuple[str, ...]) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://hm:{PASSWORD}@127.0.0.1:{port}/hm"
    result = run(instance, *args, HITMACHINE_DATABASE_URL=url)
    assert_one_line_error(result, "HITMACHINE_DATABASE_URL", f"127.0.0.1:{port}/hm",
                          "refused")


@pytest.mark.parametrize("args", [("token", "list"), ("user", "list"), ("audit", "checkpoint"),
                                  ("serve", "--port", "0")], ids=" ".join)
def test_a_sqlite_file_that_does_not_exist_is_not_created(instance: Path,
                                                          args: tuple[str, ...]) -> None:
    result = run(instance, *args, HITMACHINE_DATABASE_URL="sqlite:///elsewhere.db")
    assert_one_line_error(result, "HITMACHINE_DATABASE_URL", "elsewhere.db does not exist",
                          "hitmachine init")
    assert not (instance / "elsewhere.db").exists()


# --- item 4: a database without the schema ----------------------------------------------

@pytest.mark.parametrize("args", [("token", "list"), ("user", "list"), ("audit", "verify"),
                                  ("serve", "--port", "0")], ids=" ".join)
def test_a_database_without_schema_is_refused(instance: Path, args: tuple[str, ...]) -> None:
    (instance / "empty.db").touch()
    result = run(instance, *args, HITMACHINE_DATABASE_URL="sqlite:///empty.db")
    assert_one_line_error(result, "HITMACHINE_DATABASE_URL", "no Hitmachine schema",
                          "run 'hitmachine init' first")
    assert (instance / "empty.db").stat().st_size == 0


def test_readyz_is_503_while_the_schema_is_not_current(client: TestClient,
                                                       settings: Settings) -> None:
    assert client.get("/readyz").status_code == 200
    from sqlalchemy import create_engine

    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        r = client.get("/readyz")
        assert r.status_code == 503, r.text
        assert "hitmachine init" in r.json()["reason"]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        r = client.get("/readyz")
        assert r.status_code == 503 and "no Hitmachine schema" in r.json()["reason"]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": current})
        engine.dispose()
    assert client.get("/readyz").status_code == 200


# --- item 5: a port that is taken -----------------------------------------------------

@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_taken_port(instance: Path, taken_port: int) -> None:
    result = run(instance, "serve", "--port", str(taken_port))
    assert_one_line_error(result, f"port {taken_port}", "is taken")


def test_serve_with_workers_warns_in_one_line_then_refuses_a_taken_port(
        instance: Path, taken_port: int) -> None:
    result = run(instance, "serve", "--port", str(taken_port), "--workers", "2")
    warning, error = result.stderr.strip().splitlines()
    assert warning.startswith("warning: ") and "HITMACHINE_RATE_LIMIT_STORAGE=redis://" in warning
    assert error.startswith("error: ") and "is taken" in error
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr


def test_demo_on_a_taken_port_publishes_nothing(tmp_path: Path, taken_port: int) -> None:
    result = run(tmp_path, "demo", "--port", str(taken_port), "--dir", "demo")
    assert_one_line_error(result, f"port {taken_port}", "is taken")
    assert not (tmp_path / "demo").exists()


# --- item 7: serve says where it listens --------------------------------------------------

def test_serve_prints_the_address_it_listens_on(instance: Path) -> None:
    port = free_port()
    server = subprocess.Popen([*hitmachine(), "serve", "--port", str(port)], cwd=instance,
                              env=clean_env(), stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert server.stderr is not None
        first = server.stderr.readline()  # bounded: the process is killed below regardless
        assert first.strip() == (f"Hitmachine listening on http://127.0.0.1:{port}  "
                                 f"(Ctrl+C stops it)"), first
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        assert server.stderr is not None
        server.stderr.close()


# --- item 6: the demo ---------------------------------------------------------------------

def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    from hitmachine.cli.demo import MARKER

    mine = tmp_path / "precious"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    result = run(tmp_path, "demo", "--port", str(free_port()), "--dir", str(mine))
    assert_one_line_error(result, "not made by 'hitmachine demo'", "left alone")
    assert (mine / "thesis.txt").read_text() == "years of work"
    assert not (mine / MARKER).exists()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
def test_demo_signs_in_and_sigterm_stops_its_server(tmp_path: Path) -> None:
    from hitmachine.cli.demo import MARKER, WEB_USER

    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("w") as fh:
        demo = subprocess.Popen([*hitmachine(), "demo", "--port", str(port), "--dir", "d"],
                                cwd=tmp_path, env=clean_env(), stdout=fh,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "API documentation" not in out.read_text():
            assert demo.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.5)
        printed = out.read_text()
        assert (tmp_path / "d" / MARKER).is_file()
        password = re.search(r"password: (\S+)", printed)
        assert f"http://127.0.0.1:{port}/aanmelden" in printed and f"name:     {WEB_USER}" \
            in printed and password, printed
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            page = web.get("/aanmelden")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf, page.text
            signed_in = web.post("/aanmelden", data={
                "csrf_token": csrf.group(1), "naam": WEB_USER,
                "wachtwoord": password.group(1)})
            assert signed_in.status_code == 303, signed_in.text
            assert signed_in.headers["location"].endswith("/zoeken")
        demo.send_signal(signal.SIGTERM)  # the demo alone, not its process group
        demo.wait(timeout=30)
        deadline = time.monotonic() + 15
        while not port_is_free(port):
            assert time.monotonic() < deadline, "the demo's server still listens"
            time.sleep(0.2)
        assert "Traceback" not in out.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
        else:  # stray children of a failed run, in the demo's own session
            try:
                os.killpg(demo.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_demo_directory_is_deleted_only_when_the_demo_made_it(tmp_path: Path) -> None:
    from hitmachine.cli.demo import MARKER, fresh_directory
    from hitmachine.core.errors import Conflict

    made = fresh_directory(tmp_path / "made")  # new: made, and marked
    (made / "hitmachine.db").write_text("old run")
    again = fresh_directory(made)  # marked: the old run goes
    assert again == made and sorted(p.name for p in made.iterdir()) == [MARKER]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (fresh_directory(empty) / MARKER).is_file()  # empty: used as it is
    a_file = tmp_path / "file"
    a_file.write_text("keep")
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "data").write_text("keep")
    (forged / MARKER).symlink_to(a_file)  # a marker that is a link proves nothing
    for refused in (a_file, forged):
        with pytest.raises(Conflict):
            fresh_directory(refused)
    assert a_file.read_text() == "keep" and (forged / "data").read_text() == "keep"
