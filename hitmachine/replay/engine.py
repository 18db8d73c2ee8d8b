"""Running a replay through the real path.

1. Check every input file (``hitmachine.replay.inputs``); on any problem stop before
   anything is published or asked.
2. Publish each ``<agency>.csv`` extract through the adapter (``hitmachine_adapter.cli.run_sync``),
   as that agency's adapter would: normalise, pseudonymise locally, send an atomic snapshot.
3. Ask about every household with one ``POST /v1/queries/household`` under the ``replay``
   purpose, with ``reference_date`` set: the service applies its own matching and
   disclosure rules as on that date, and audits each query like any other.
4. Tally (``hitmachine.replay.summary``) and write ``summary.json`` and the report.

The target is either a fresh embedded instance (SQLite and keys in a temporary directory,
the real app served by uvicorn on a free loopback port in a background thread), or a
running server given by ``--server`` and a query token.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from hitmachine.core.errors import HitmachineError, InvalidInput, Unavailable
from hitmachine.replay.inputs import Household, ReplayInput, load_inputs
from hitmachine.replay.model import (
    NoProgress,
    Progress,
    Published,
    ReplayOptions,
    ReplayOutcome,
    RunInfo,
)
from hitmachine.replay.report import write_outputs
from hitmachine.replay.summary import summarise
from hitmachine.settings import Settings, load_settings

RETRY_STATUS = frozenset({429, 502, 503, 504})
QUERY_ATTEMPTS = 5


class ReplayError(HitmachineError):
    """The replay could not be completed (a server, token or publishing problem)."""

    status = 500
    title = "Replay failed"
    code = "replay-failed"


# --------------------------------------------------------------------------------------------
# Targets


def describe_rule(min_age: int | None, max_age: int | None) -> str:
    if min_age is None and max_age is None:
        return "everyone"
    if max_age is None:
        return f"ages {min_age} and over"
    if min_age is None:
        return f"ages up to {max_age}"
    return f"ages {min_age} to {max_age}"


class EmbeddedTarget:
    """A fresh instance: SQLite database and keys in a directory of its own, tokens made
    through the admin service, and the real app served on 127.0.0.1 in a background thread."""

    description = "embedded"

    def __init__(self, base: Settings, keep: Path | None = None) -> None:
        self.keep = keep
        self.directory: Path | None = None
        self.url = ""
        self.query_token = ""
        self.adapter_tokens: dict[str, str] = {}
        self.keyring: Path | None = None
        self._server: _ServerThread | None = None
        # The agencies and purposes are the caller's settings, from the environment as for
        # any instance (HITMACHINE_AGENCIES, ...); where the data lives is the replay's own.
        self._base = base

    def agencies(self) -> dict[str, str]:
        return {a.code: a.name for a in self._base.agencies}

    def rules(self, codes: tuple[str, ...]) -> dict[str, str] | None:
        by_code = self._base.agency_map()
        return {c: describe_rule(by_code[c].disclosure.min_age, by_code[c].disclosure.max_age)
                for c in codes}

    def age_limits(self, codes: tuple[str, ...]) -> dict[str, tuple[int | None, int | None]]:
        by_code = self._base.agency_map()
        return {c: (by_code[c].disclosure.min_age, by_code[c].disclosure.max_age) for c in codes}

    def check(self, inputs: ReplayInput, purpose: str) -> None:
        configured = self._base.purpose_map().get(purpose)
        if configured is None:
            raise InvalidInput("purpose", "is not a configured purpose")
        if not configured.allows_reference_date:
            raise InvalidInput("purpose", "does not allow a reference date (use a purpose "
                                          "that replays a test, such as 'replay')")
        if self.keep is not None and self.keep.exists() and (
                not self.keep.is_dir() or any(self.keep.iterdir())):
            raise InvalidInput("keep-instance", "must be a new or empty directory")

    def start(self, inputs: ReplayInput, run_id: str) -> None:
        from hitmachine.core.principal import Role
        from hitmachine.services import admin
        from hitmachine.services.context import Context
        from hitmachine.services.instance import initialise

        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            self.directory = self.keep.resolve()
        else:
            self.directory = Path(tempfile.mkdtemp(prefix="hitmachine-replay-"))
        settings = self._base.model_copy(update={
            "database_url": f"sqlite:///{self.directory / 'hitmachine.db'}",
            "keys_dir": self.directory / "keys",
            # One query per household, however large the household is.
            "max_members": max(self._base.max_members, inputs.largest_household)})
        initialise(settings)
        ctx = Context.from_settings(settings)
        request_id = f"replay-{run_id}"
        try:
            self.keyring = self.directory / "adapter-keyring.json"
            admin.export_keyring(ctx, admin.CONSOLE, self.keyring, request_id)
            for code in inputs.agencies:
                self.adapter_tokens[code] = admin.create_token(
                    ctx, admin.CONSOLE, name=f"replay {run_id} adapter {code}",
                    role=Role.ADAPTER, agency=code, expires_at=None, request_id=request_id)[1]
            self.query_token = admin.create_token(
                ctx, admin.CONSOLE, name=f"replay {run_id} researcher", role=Role.RESEARCHER,
                agency=None, expires_at=None, request_id=request_id)[1]
        finally:
            ctx.close()
        self._server = _ServerThread(settings)
        self._server.start()
        self.url = self._server.url

    def publish_credentials(self, agency: str) -> tuple[str, Path]:
        assert self.keyring is not None
        return self.adapter_tokens[agency], self.keyring

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.directory is not None and self.keep is None:
            shutil.rmtree(self.directory, ignore_errors=True)


class RemoteTarget:
    """A running Hitmachine: the query token asks, adapter tokens (one per agency) publish."""

    def __init__(self, server: str, token: str, *, publish: bool,
                 adapter_tokens: Mapping[str, str], keyring: Path | None) -> None:
        self.url = server.rstrip("/")
        self.description = self.url
        self.query_token = token
        self.publish = publish
        self.adapter_tokens = dict(adapter_tokens)
        self.keyring = keyring
        self._agencies: dict[str, str] | None = None
        self.directory: Path | None = None

    def _get(self, path: str) -> Any:
        try:
            response = httpx.get(f"{self.url}{path}", timeout=30,
                                 headers={"Authorization": f"Bearer {self.query_token}"})
        except httpx.TransportError as exc:
            raise ReplayError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise ReplayError(f"the server refused the query token ({response.status_code}): "
                              f"{_problem_text(response)}")
        if response.status_code != 200:
            raise ReplayError(f"GET {path} answered {response.status_code}: "
                              f"{_problem_text(response)}")
        return response.json()

    def agencies(self) -> dict[str, str]:
        if self._agencies is None:
            self._agencies = {a["code"]: a["name"] for a in self._get("/v1/agencies")}
        return self._agencies

    def rules(self, codes: tuple[str, ...]) -> dict[str, str] | None:
        return None  # the API does not publish its disclosure rules; they are the server's

    def age_limits(self, codes: tuple[str, ...]) -> dict[str, tuple[int | None, int | None]]:
        return {}

    def check(self, inputs: ReplayInput, purpose: str) -> None:
        purposes = {p["code"] for p in self._get("/v1/purposes")}
        if purpose not in purposes:
            raise InvalidInput("purpose", f"is not a purpose this token may ask on {self.url} "
                                          "(a replay needs a researcher token)")
        if not self.publish:
            return
        if self.keyring is None:
            raise InvalidInput("keyring", "is required to publish to a server (the keyring "
                                          "from 'hitmachine keys export'), or use --no-publish")
        if not self.keyring.is_file():
            raise InvalidInput("keyring", "is not a file")
        missing = [a for a in inputs.agencies if a not in self.adapter_tokens]
        if missing:
            raise InvalidInput("adapter-token", f"missing for {', '.join(missing)} (give "
                                                "--adapter-token CODE=TOKEN per extract, or "
                                                "use --no-publish)")
        extra = sorted(set(self.adapter_tokens) - set(inputs.agencies))
        if extra:
            raise InvalidInput("adapter-token", f"given for {', '.join(extra)}, which has no "
                                                "extract file")

    def start(self, inputs: ReplayInput, run_id: str) -> None:
        pass

    def publish_credentials(self, agency: str) -> tuple[str, Path]:
        assert self.keyring is not None
        return self.adapter_tokens[agency], self.keyring

    def close(self) -> None:
        pass


class _ServerThread:
    """uvicorn serving ``create_app(settings)`` on a free loopback port, in this process."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from hitmachine.core.listen import bind_tcp
        from hitmachine.http.app import create_app

        self._socket = bind_tcp("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(settings), log_config=None, access_log=False,
                                log_level="warning", server_header=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="hitmachine-replay-server", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise Unavailable("the embedded Hitmachine did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._socket.close()


# --------------------------------------------------------------------------------------------
# Publishing and asking


def publish_extracts(target: EmbeddedTarget | RemoteTarget, inputs: ReplayInput,
                     run: RunInfo, progress: Progress, batch_size: int) -> None:
    from hitmachine_adapter.cli import run_sync
    from hitmachine_adapter.errors import AdapterError

    progress.start("publishing extracts", len(inputs.extracts))
    for extract in inputs.extracts:
        token, keyring = target.publish_credentials(extract.agency)
        started = time.perf_counter()
        try:
            result = run_sync(agency=extract.agency, source=extract.path, server=target.url,
                              token=token, keyring=keyring, batch_size=batch_size)
        except AdapterError as exc:
            raise ReplayError(f"publishing {extract.agency} failed: {exc}") from None
        run.published.append(Published(extract.agency, result.rows_read,
                                       result.entries_published, result.rejected,
                                       time.perf_counter() - started))
        if result.rejected:
            progress.note(f"{extract.agency}: the adapter rejected {result.rejected} row(s) "
                          "that the replay's own check accepted")
        progress.advance()


def ask_households(target: EmbeddedTarget | RemoteTarget, inputs: ReplayInput, run: RunInfo,
                   progress: Progress) -> dict[str, dict[str, str]]:
    """member id -> {agency: basis}, from one audited query per household."""
    answers: dict[str, dict[str, str]] = {}
    progress.start("asking households", len(inputs.households))
    headers = {"Authorization": f"Bearer {target.query_token}",
               "User-Agent": "hitmachine-replay"}
    with httpx.Client(base_url=target.url, headers=headers, timeout=60) as client:
        for household in inputs.households:
            body = {"purpose": run.purpose,
                    "case_reference": f"{run.case_reference_prefix} {household.household_id}",
                    "reference_date": run.reference_date.isoformat(),
                    "members": [m.query_fields() for m in household.members]}
            members = _ask(client, body, household)
            run.queries += 1
            for member, answer in zip(household.members, members):
                answers[member.member_id] = {a["code"]: a["basis"] for a in answer["agencies"]}
            progress.advance()
    return answers


def _ask(client: httpx.Client, body: dict[str, Any], household: Household) -> list[Any]:
    delay = 0.25
    for attempt in range(QUERY_ATTEMPTS):
        try:
            response = client.post("/v1/queries/household", json=body)
        except httpx.TransportError as exc:
            if attempt == QUERY_ATTEMPTS - 1:
                raise ReplayError(f"cannot reach the server: {type(exc).__name__}") from None
        else:
            if response.status_code == 200:
                members: list[Any] = response.json()["members"]
                if len(members) != len(household.members):
                    raise ReplayError(f"household {household.household_id}: the answer has "
                                      f"{len(members)} members, the question "
                                      f"{len(household.members)}")
                return members
            if response.status_code not in RETRY_STATUS or attempt == QUERY_ATTEMPTS - 1:
                raise ReplayError(_refusal(response, household))
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _refusal(response: httpx.Response, household: Household) -> str:
    status = response.status_code
    if status in (401, 403):
        return f"the server refused the query token ({status}): {_problem_text(response)}"
    where = f"household {household.household_id}"
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    named = []
    for error in errors:
        parts = str(error.get("field", "")).split(".")
        if len(parts) >= 3 and parts[0] == "members" and parts[1].isdigit() \
                and int(parts[1]) < len(household.members):
            member = household.members[int(parts[1])]
            named.append(f"member {member.member_id} (line {member.line}) "
                         f"{parts[-1]}: {error.get('message', '')}")
        else:
            named.append(f"{error.get('field', '')}: {error.get('message', '')}")
    detail = "; ".join(named) or _problem_text(response)
    return f"{where}: the server answered {status}: {detail}"


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.reason_phrase)
    return response.reason_phrase


# --------------------------------------------------------------------------------------------
# The whole run


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_replay(options: ReplayOptions, progress: Progress | None = None,
               settings: Settings | None = None) -> ReplayOutcome:
    """Run the replay; an embedded instance takes its agencies, purposes and limits from
    ``settings`` (by default this process's, loaded from the environment)."""
    progress = progress or NoProgress()
    options.check()
    started = time.perf_counter()
    run_id = new_run_id()
    target: EmbeddedTarget | RemoteTarget
    if options.server is not None:
        assert options.token is not None
        target = RemoteTarget(options.server, options.token, publish=options.publish,
                              adapter_tokens=options.adapter_tokens, keyring=options.keyring)
    else:
        target = EmbeddedTarget(settings or load_settings(), options.keep_instance)

    progress.start("checking input files", 1)
    names = target.agencies()
    inputs = load_inputs(households=options.households, extracts=options.extracts,
                         reference_date=options.reference_date, agencies=names,
                         manual=options.manual)
    target.check(inputs, options.purpose)
    _prepare_out(options.out)
    progress.advance()
    run = RunInfo(run_id=run_id, target=target.description, purpose=options.purpose,
                  reference_date=options.reference_date,
                  started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  agency_names={a: names[a] for a in inputs.agencies},
                  rules=target.rules(inputs.agencies), kept_instance=options.keep_instance,
                  age_limits=target.age_limits(inputs.agencies))
    run.phases["checking"] = time.perf_counter() - started
    try:
        mark = time.perf_counter()
        embedded = isinstance(target, EmbeddedTarget)
        if embedded:
            progress.start("starting Hitmachine", 1)
        target.start(inputs, run_id)
        if embedded:
            progress.advance()
            run.phases["starting"] = time.perf_counter() - mark
        if options.server is None or options.publish:
            mark = time.perf_counter()
            publish_extracts(target, inputs, run, progress, options.batch_size)
            run.phases["publishing"] = time.perf_counter() - mark
        mark = time.perf_counter()
        answers = ask_households(target, inputs, run, progress)
        run.phases["asking"] = time.perf_counter() - mark
    finally:
        target.close()
    run.seconds = time.perf_counter() - started
    hits = {member: tuple(agencies) for member, agencies in answers.items()}
    summary = summarise(inputs, hits)
    outcome = ReplayOutcome(inputs=inputs, answers=answers, run=run, summary=summary)
    outcome.files = write_outputs(outcome, options.out, progress, lang=options.lang)
    return outcome


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInput("out", f"cannot be written ({exc.strerror or type(exc).__name__})"
                           ) from None


__all__ = ["EmbeddedTarget", "RemoteTarget", "ReplayError", "ask_households", "describe_rule",
           "new_run_id", "publish_extracts", "run_replay"]
