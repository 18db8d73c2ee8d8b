"""The deployment files (deploy/, docs/deploy.md) checked as far as this machine allows.

No container engine and no systemd as PID 1 here, so: the compose file against the Compose
Specification's JSON schema; the units through ``systemd-analyze verify`` and ``security
--offline``; and cross-checks against the code, where a rename would otherwise leave the
files silently wrong: every ``HITMACHINE_*`` variable is a setting, every command and option
exists in the CLI, every health check URL answers 200 from the app.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from starlette.testclient import TestClient

from hitmachine.cli.main import app as hitmachine_app
from hitmachine.http.app import create_app
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings
from hitmachine_adapter.cli import app as adapter_app
from hitmachine_keyservice import keyfile
from hitmachine_keyservice.app import create_app as create_keyservice_app
from hitmachine_keyservice.settings import KeyServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose.yaml"
SCHEMA = Path(__file__).with_name("compose-spec.json")
GUIDE = ROOT / "docs" / "deploy.md"
# Where the units expect the virtualenv (docs/deploy.md); the tests put this one there.
PREFIX = "/opt/hitmachine/bin/"
REQUIRE_SYSTEMD = os.environ.get("HITMACHINE_REQUIRE_SYSTEMD") == "1"

# Every file that names settings, commands or URLs an operator will use.
DEPLOY_FILES = sorted(p for p in DEPLOY.rglob("*") if p.is_file()) + [ROOT / "Dockerfile", GUIDE]


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------- compose schema

def _schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert _schema_errors(_compose()) == []


@pytest.mark.parametrize("mistake", ["misspelt key", "wrong type", "bad depends_on condition"])
def test_the_schema_check_finds_mistakes(mistake: str) -> None:
    doc = copy.deepcopy(_compose())
    app = doc["services"]["app"]
    if mistake == "misspelt key":
        app["healthcheck"]["intervall"] = app["healthcheck"].pop("interval")
    elif mistake == "wrong type":
        app["read_only"] = {"yes": True}
    else:
        app["depends_on"]["init"]["condition"] = "service_finished"
    assert _schema_errors(doc) != []


def test_compose_keeps_the_stores_and_the_key_service_unpublished() -> None:
    services = _compose()["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"app"}
    assert all(p.startswith("127.0.0.1:") for p in services["app"]["ports"])
    networks = _compose()["networks"]
    assert networks["backend"]["internal"] is True
    assert networks["keyservice"]["internal"] is True
    # Only the app joins the key service's network; the stores are on the backend only.
    assert [n for n, s in services.items() if "keyservice" in s.get("networks", [])] \
        == ["app", "keyservice"]
    assert services["postgres"]["networks"] == ["backend"]
    assert services["redis"]["networks"] == ["backend"]


def test_compose_starts_the_app_after_init_with_secrets_as_files() -> None:
    services = _compose()["services"]
    app = services["app"]
    assert app["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["keyservice"]["depends_on"]["keyservice-init"]["condition"] \
        == "service_completed_successfully"
    for name in ("app", "init", "keyservice", "keyservice-init", "postgres", "redis"):
        service = services[name]
        assert service.get("read_only") is True, name
        assert "healthcheck" in service, name
        assert service.get("restart") in ("unless-stopped", "no"), name
        # No secret value in any environment: secrets are files.
        for variable, value in (service.get("environment") or {}).items():
            assert "PASSWORD=" not in f"{variable}={value}", name
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)), (name, variable)
    assert app["environment"]["HITMACHINE_DATABASE_URL_FILE"].startswith("/run/secrets/")
    # The app runs with two workers, sharing its limits through Redis.
    command = app["command"]
    assert command[command.index("--workers") + 1] == "2"
    assert app["environment"]["HITMACHINE_RATE_LIMIT_STORAGE"].startswith("redis://redis:")
    # The keys live in volumes, the key service's apart from the app's.
    volumes = {name: [v.split(":")[0] for v in s.get("volumes", [])]
               for name, s in services.items()}
    assert volumes["keyservice"] == ["keyservice-data"]
    assert "keyservice-data" not in volumes["app"] + volumes["init"]


# --------------------------------------------------------------------------- settings

def _adapter_variables() -> set[str]:
    from hitmachine_adapter import config

    command: Any = typer.main.get_command(adapter_app)
    found = {config.TOKEN_ENV, config.TOKEN_FILE_ENV, config.STATE_ENV}
    for sub in command.commands.values():
        for param in sub.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                found.add(envvar)
    return found


def _known_variables() -> set[str]:
    known = {"HITMACHINE_" + name.upper() for name in Settings.model_fields}
    known |= {"HITMACHINE_KEYSERVICE_" + name.upper() for name in KeyServiceSettings.model_fields}
    return known | _adapter_variables()


def _variables_in(text: str) -> set[str]:
    # Whole names only: "HITMACHINE_KEYSERVICE_*" names a family, not a variable.
    return set(re.findall(r"\bHITMACHINE_[A-Z0-9_]*[A-Z0-9]\b", text))


def test_every_hitmachine_variable_in_the_deploy_files_is_a_setting() -> None:
    known = _known_variables()
    unknown: dict[str, list[str]] = {}
    for path in DEPLOY_FILES:
        for variable in _variables_in(path.read_text(encoding="utf-8")):
            # Nested settings (agencies, purposes) are written HITMACHINE_AGENCIES__0__CODE.
            if variable not in known and variable.split("__")[0] not in known:
                unknown.setdefault(str(path.relative_to(ROOT)), []).append(variable)
    assert unknown == {}


def test_the_variable_check_finds_a_misspelt_one() -> None:
    known = _known_variables()
    assert "HITMACHINE_DATABASE_URL_FILE" in known
    assert "HITMACHINE_DATABSE_URL" not in known
    assert "HITMACHINE_KEYSERVICE_DIR" in known and "HITMACHINE_ADAPTER_CONFIG" in known


# --------------------------------------------------------------------------- commands

def _tree(program: str) -> Any:
    # typer's own click (typer._click), not the click package: groups have .commands.
    return typer.main.get_command(hitmachine_app if program == "hitmachine" else adapter_app)


def _check_command(program: str, args: list[str]) -> str | None:
    """None when ``program args`` names a command with those options; else what is wrong."""
    command = _tree(program)
    words = list(args)
    path = [program]
    while hasattr(command, "commands"):
        if not words or words[0].startswith("-"):
            return None if not words else f"{' '.join(path)}: an option before a command"
        name = words.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return f"{' '.join(path)} has no command {name!r}"
        command, path = sub, [*path, name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options.add("--help")
    for word in words:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            if option not in options:
                return f"{' '.join(path)} has no option {option}"
    return None


_PROGRAM = re.compile(r"(?:^|(?<=[\s;&|(=]))(?:/opt/hitmachine/bin/)?"
                      r"(hitmachine-adapter|hitmachine-admin|hitmachine)(?=\s+[a-z])")
_END = re.compile(r"\s(?:[|;>]|&&|\|\||2>)")  # where a shell command ends


def _words(rest: str) -> list[str]:
    rest = _END.split(rest, maxsplit=1)[0]
    try:
        return shlex.split(rest)
    except ValueError:
        return rest.split()


def _commands_in(code: str) -> Iterator[tuple[str, list[str]]]:
    """The ``hitmachine``, ``hitmachine-admin`` and ``hitmachine-adapter`` commands in one
    line of shell. After an option the name is its value (``sudo -u hitmachine pg_dump``,
    ``createdb --owner hitmachine hitmachine``): a user or a database, not a command."""
    for match in _PROGRAM.finditer(code):
        before = code[:match.start()].split()
        if before and before[-1].startswith("-"):
            continue
        program = match.group(1)
        yield ("hitmachine" if program == "hitmachine-admin" else program), \
            _words(code[match.end():])
    # Compose runs the image's entry point (hitmachine) with the words after the service.
    compose = re.search(r"docker compose run --rm(?: -T)? (?:app|init|keyservice)\s+"
                        r"(?!hitmachine)(.*)", code)
    if compose:
        yield "hitmachine", _words(compose.group(1))


def _command_lines(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Commands written in a file: unit Exec lines, the admin script, the guide's code
    blocks. (The compose file's are read from its structure: _all_commands.)"""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    if path.suffix in (".yaml", ".yml"):
        return
    if path.suffix == ".md":
        blocks = re.findall(r"```(?:sh|bash|console|ini)?\n(.*?)```", text, re.S)
        lines = [line for block in blocks for line in block.splitlines()]
    else:
        lines = text.splitlines()
    for line in lines:
        code = line.split(" #", 1)[0].strip()
        if not code.startswith("#"):
            yield from _commands_in(code)


def _all_commands() -> list[tuple[str, str, list[str]]]:
    found = [(str(path.relative_to(ROOT)), program, words)
             for path in DEPLOY_FILES for program, words in _command_lines(path)]
    # The services' commands in the compose file (the image's entry point is hitmachine).
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if not str(service.get("image", "")).startswith("hitmachine:"):
            continue
        if "entrypoint" not in service:
            found.append((f"compose.yaml {name}", "hitmachine", command))
        else:  # a shell line that runs hitmachine
            found += [(f"compose.yaml {name}", program, words)
                      for line in command for program, words in _commands_in(line)]
    return found


def test_every_command_named_in_the_deploy_files_exists() -> None:
    commands = _all_commands()
    # The guide and the units name at least these; a parser that found none would pass.
    named = {" ".join([program, *words[:2]]) for _, program, words in commands}
    for expected in ("hitmachine serve --host", "hitmachine init", "hitmachine-adapter sync",
                     "hitmachine audit verify", "hitmachine keyservice serve",
                     "hitmachine audit checkpoint", "hitmachine keyservice token"):
        assert any(n.startswith(expected) for n in named), expected
    problems = [f"{where}: {problem}" for where, program, words in commands
                if (problem := _check_command(program, words)) is not None]
    assert problems == []


def test_the_command_check_finds_a_wrong_command_or_option() -> None:
    assert _check_command("hitmachine", ["audit", "verify", "--checkpoint", "x"]) is None
    assert _check_command("hitmachine", ["serve", "--no-access-log"]) is None
    assert _check_command("hitmachine", ["audit", "verifiy"]) is not None
    assert _check_command("hitmachine", ["serve", "--threads", "2"]) is not None
    assert _check_command("hitmachine-adapter", ["sync", "--quiet"]) is None
    assert _check_command("hitmachine-adapter", ["publish"]) is not None


# --------------------------------------------------------------------------- health checks

def _health_urls() -> set[tuple[int, str]]:
    urls: set[tuple[int, str]] = set()
    for path in (COMPOSE, ROOT / "Dockerfile"):
        for port, route in re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/.-]*)",
                                      path.read_text(encoding="utf-8")):
            urls.add((int(port), route))
    return urls


def test_the_health_check_urls_answer_200(tmp_path: Path) -> None:
    urls = _health_urls()
    assert {(8000, "/readyz"), (8000, "/healthz"), (8100, "/healthz")} <= urls
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hm.db'}",
                        keys_dir=tmp_path / "keys")
    initialise(settings)
    ks_settings = KeyServiceSettings(dir=tmp_path / "ks")
    ks_settings.dir.mkdir(mode=0o700)
    keyfile.create(ks_settings.key_path)
    with TestClient(create_app(settings)) as app, \
            TestClient(create_keyservice_app(ks_settings)) as keyservice:
        clients = {8000: app, 8100: keyservice}
        answers = {(port, route): clients[port].get(route).status_code for port, route in urls}
        assert clients[8000].get("/no-such-route").status_code == 404  # the check can fail
    assert answers == dict.fromkeys(urls, 200)


# --------------------------------------------------------------------------- systemd

def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if REQUIRE_SYSTEMD:
            pytest.fail("systemd-analyze is missing (HITMACHINE_REQUIRE_SYSTEMD=1; .ci/run "
                        "installs the systemd package)")
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    return found


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units as installed, but with this virtualenv's scripts where they expect
    /opt/hitmachine: verify checks that each command exists and is executable."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "hitmachine").exists() and (bin_dir / "hitmachine-adapter").exists()
    for unit in UNITS.glob("*.[st]*"):
        text = unit.read_text(encoding="utf-8").replace(PREFIX, f"{bin_dir}/")
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    return tmp_path


def _verify(analyze: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    # Unknown keys and unparsable values are only warnings (exit 0): any output fails.
    return subprocess.run([analyze, "verify", "--man=no", "--generators=no",
                           *map(str, paths)], capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_units_pass_systemd_analyze_verify(units: Path) -> None:
    analyze = _systemd_analyze()
    paths = sorted(units.glob("*.service")) + sorted(units.glob("*.timer"))
    assert {p.name for p in paths} == {"hitmachine.service", "hitmachine-keyservice.service",
                                       "hitmachine-adapter.service", "hitmachine-adapter.timer"}
    result = _verify(analyze, paths)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("mistake", [("ProtectSystem=strict", "ProtectSytem=strict"),
                                     ("ProtectSystem=strict", "ProtectSystem=strcit"),
                                     ("/hitmachine serve", "/hitmachien serve")])
def test_verify_finds_mistakes_in_a_unit(units: Path, mistake: tuple[str, str]) -> None:
    analyze = _systemd_analyze()
    unit = units / "hitmachine.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace(*mistake), encoding="utf-8")
    result = _verify(analyze, [unit])
    assert (result.returncode, result.stdout + result.stderr) != (0, "")


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("name", ["hitmachine.service", "hitmachine-keyservice.service",
                                  "hitmachine-adapter.service"])
def test_the_services_are_hardened(name: str, units: Path) -> None:
    d = _directives(UNITS / name)
    for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
                       "UMask": "0077", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
                       }.items():
        assert d.get(key) == [value], (name, key)
    assert d["User"][0].startswith("hitmachine") and d["User"] != ["root"]
    # The one writable place is the service's own state directory.
    assert d["ReadWritePaths"] == [f"/var/lib/{d['StateDirectory'][0]}"]
    # Secrets come as credentials, never in an environment line.
    assert not any(re.search(r"TOKEN=|://[^/@\s]*:[^/@\s]*@", v) for v in d["Environment"])
    analyze = _systemd_analyze()
    result = subprocess.run([analyze, "security", "--offline=true", "--man=no",
                             str(units / name)], capture_output=True, text=True, timeout=120,
                            check=False)
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    # systemd's scale: 0 safe ... 10 exposed; below 2 it says "OK".
    assert float(level.group(1)) < 2.0, result.stdout


def test_the_timer_runs_the_adapter_service() -> None:
    d = _directives(UNITS / "hitmachine-adapter.timer")
    assert d["Unit"] == ["hitmachine-adapter.service"] and d["Persistent"] == ["yes"]
    assert _directives(UNITS / "hitmachine-adapter.service")["Type"] == ["oneshot"]


def test_the_admin_script_is_valid_shell() -> None:
    script = UNITS / "hitmachine-admin"
    assert os.access(script, os.X_OK)
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=30)


# --------------------------------------------------------------------------- image

def test_the_image_is_built_from_every_package() -> None:
    """The build stage copies each package the wheel is made of (a moved package left out
    builds an image without it), and runs as the fixed user secret files are given to."""
    import tomllib

    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {source for line in text.splitlines()
              if line.startswith("COPY ") and "--from=" not in line
              for source in line.split()[1:-1]}
    include = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()
                and any(p.name == pattern.rstrip("*") for pattern in include)}
    assert packages and packages <= copied
    assert {"pyproject.toml", "README.md"} <= copied
    assert re.search(r"^USER 10001:10001$", text, re.M)
    # An image default would clash with HITMACHINE_DATABASE_URL_FILE (both set: refused).
    assert not re.search(r"^(ENV|\s).*HITMACHINE_DATABASE_URL=", text, re.M)
