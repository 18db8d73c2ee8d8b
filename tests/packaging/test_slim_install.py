"""The adapter and the key service install on their own, without the server's stack.

Each distribution under ``packaging/`` is built into a wheel and installed into a fresh
virtual environment (its dependencies from the package index, as an agency's operator
would); its command then runs there, every module of its part and of the core imports, and
none of the server's dependencies is present. uv builds and installs: pip takes about a
minute per environment here, uv a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {"fastapi", "alembic", "jinja2", "altair", "vl-convert-python",
               "prometheus-client", "argon2-cffi", "limits"}

pytestmark = pytest.mark.slow


UV = [sys.executable, "-m", "uv"]


def _install(part: str, tmp: Path) -> Path:
    wheels = tmp / "wheels"
    subprocess.run([*UV, "build", "--quiet", "--wheel", "--out-dir", str(wheels),
                    str(ROOT / "packaging" / part)], check=True)
    env_dir = tmp / "venv"
    subprocess.run([*UV, "venv", "--quiet", "--python", sys.executable, str(env_dir)],
                   check=True)
    python = env_dir / "bin" / "python"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run([*UV, "pip", "install", "--quiet", "--python", str(python), str(wheel)],
                   check=True)
    return python


def _installed(python: Path) -> set[str]:
    out = subprocess.run([*UV, "pip", "list", "--python", str(python), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return {p["name"].lower() for p in json.loads(out)}


def _imports_everything(python: Path, packages: list[str]) -> None:
    """Import every module of ``packages`` from the installed wheel, not this checkout."""
    script = (
        "import importlib, pkgutil, sys\n"
        f"for name in {packages!r}:\n"
        "    pkg = importlib.import_module(name)\n"
        "    assert 'site-packages' in pkg.__file__, pkg.__file__\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, name + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n")
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                          cwd=python.parents[2])
    assert done.stdout.strip() == "ok", done.stderr


def test_the_adapter_alone(tmp_path: Path) -> None:
    python = _install("adapter", tmp_path)
    assert not _installed(python) & SERVER_ONLY
    _imports_everything(python, ["hitmachine.core", "hitmachine_adapter"])
    command = python.parent / "hitmachine-adapter"
    shown = subprocess.run([str(command), "mappings"], capture_output=True, text=True)
    assert shown.returncode == 0 and "leerplicht" in shown.stdout, shown.stderr


def test_the_key_service_alone(tmp_path: Path) -> None:
    python = _install("keyservice", tmp_path)
    assert not _installed(python) & (SERVER_ONLY | {"sqlalchemy", "psycopg"})
    _imports_everything(python, ["hitmachine.core", "hitmachine_keyservice"])
    command = python.parent / "hitmachine-keyservice"
    env = {**os.environ, "HITMACHINE_KEYSERVICE_DIR": str(tmp_path / "ks")}
    init = subprocess.run([str(command), "init"], capture_output=True, text=True, env=env)
    assert init.returncode == 0, init.stderr
    versions = subprocess.run([str(command), "versions"], capture_output=True, text=True,
                              env=env)
    assert versions.returncode == 0 and "1" in versions.stdout, versions.stderr
