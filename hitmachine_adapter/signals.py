"""``hitmachine-adapter signals``: the agency's signals, with its own reference per person.

A hit signal names the person only by the pseudonyms this agency published. The adapter
fetches its open signals, reads the same export or database as ``sync`` (same mapping,
same filters), pseudonymises every row again on this machine (with the keyring, or under
blind pseudonyms through the key service, as ``sync`` does), and keeps only the rows whose
pseudonyms a signal names: their reference (the mapping's ``reference`` column, e.g.
``clientnummer``) is what it shows. Nothing identifying is sent: the only requests are
the list of signals and, with ``--ack``, their acknowledgements by id.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hitmachine.core.csv_cells import safe_row
from hitmachine.core.errors import HitmachineError, InvalidInput
from hitmachine.core.identity import Identity, normalise_identity
from hitmachine_adapter.client import PublishClient
from hitmachine_adapter.config import Options, resolve_mapping
from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.pseudonymise import key_access, make_pseudonymiser
from hitmachine_adapter.rows import FILTERED, Person, RowReader
from hitmachine_adapter.source import open_source
from hitmachine_adapter.sync import _keyring

CHUNK = 5000
HEADER = ("signal", "kind", "created_at", "purpose", "case_reference", "sender", "contact",
          "reference")
NOT_FOUND = "(not in the source)"


@dataclass
class ShownSignal:
    signal: dict[str, Any]
    references: list[str] = field(default_factory=list)

    def row(self) -> tuple[str, ...]:
        s = self.signal
        ref = "; ".join(self.references) if self.references else (
            NOT_FOUND if s["kind"] == "hit" else "")
        return (s["id"], s["kind"], s["created_at"], s["purpose"], s["case_reference"],
                s["sender"], s["contact"], ref)


@dataclass
class SignalsResult:
    shown: list[ShownSignal]
    acked: int = 0
    rows_read: int = 0


def fetch_and_resolve(opts: Options, *, ack: bool = False, include_acked: bool = False,
                      transport: Any = None) -> SignalsResult:
    """Fetch the agency's signals, find each hit's person in the source by recomputing its
    pseudonyms here, and acknowledge the signals shown if asked. Raises ``AdapterError``."""
    opts.check()
    mapping = resolve_mapping(opts.mapping, opts.agency, opts.source)
    if mapping.reference is None:
        raise AdapterUsageError(f"mapping {mapping.name} names no reference column "
                                "(columns.reference, e.g. your client number): the signals "
                                "need it to tell you who each one is about")
    verify, cert = opts.tls()
    keys = key_access(_keyring(opts.keyring), opts.keyring, scheme=opts.scheme,
                      keyservice_url=opts.keyservice, token_file=opts.keyservice_token_file,
                      verify=verify)
    with PublishClient(opts.server or "", opts.token or "", transport=transport,
                       retries=opts.retries, backoff=opts.backoff, timeout=opts.timeout,
                       verify=verify, cert=cert) as client:
        signals = client.signals(include_acked=include_acked)
        wanted: dict[int, set[str]] = {}
        for s in signals:
            for p in s.get("pseudonyms", []):
                for kind in ("bsn", "name"):
                    if p.get(kind):
                        wanted.setdefault(int(p["key_version"]), set()).add(p[kind])
        found: dict[tuple[int, str], set[str]] = {}
        rows = 0
        if wanted:
            try:
                pseudonymiser = make_pseudonymiser(keys)
            except HitmachineError as exc:
                raise AdapterUsageError(f"keyring {opts.keyring}: {exc.detail}") from None
            missing = sorted(set(wanted) - set(pseudonymiser.active_versions))
            if missing:
                raise AdapterUsageError(
                    f"the signals name key version(s) {', '.join(map(str, missing))}, which "
                    f"keyring {opts.keyring} does not hold; export it again")
            rows = _resolve(opts, mapping, pseudonymiser, wanted, found)
        shown = []
        for s in signals:
            refs: set[str] = set()
            for p in s.get("pseudonyms", []):
                for kind in ("bsn", "name"):
                    if p.get(kind):
                        refs |= found.get((int(p["key_version"]), p[kind]), set())
            shown.append(ShownSignal(s, sorted(refs)))
        acked = 0
        if ack:
            for item in shown:
                if item.signal.get("acked_at") is None:
                    client.ack_signal(item.signal["id"])
                    acked += 1
    return SignalsResult(shown, acked, rows)


def _resolve(opts: Options, mapping: Any, pseudonymiser: Any, wanted: dict[int, set[str]],
             found: dict[tuple[int, str], set[str]]) -> int:
    """Pseudonymise every usable row under each wanted key version; keep the references of
    the rows whose BSN or name-key pseudonym a signal names. Returns the rows read."""
    reader = RowReader(mapping)
    source = open_source(opts.source, mapping)
    rows = 0
    try:
        for chunk in _chunks(_people(source.rows(), reader), CHUNK):
            rows += len(chunk)
            identities = [ident for ident, _ in chunk]
            for version, hexes in wanted.items():
                for (_, ref), ps in zip(chunk, pseudonymiser.pseudonymise(identities,
                                                                             version)):
                    for value in (ps.bsn, ps.name):
                        if value is not None and value.hex() in hexes:
                            found.setdefault((version, value.hex()), set()).add(ref)
    finally:
        source.close()
    return rows


def _people(rows: Iterable[Any], reader: RowReader) -> Iterator[tuple[Identity, str]]:
    """The rows sync would publish, each with its reference; unusable rows are skipped
    (sync rejects them, so no signal can be about them)."""
    for _number, _line, values in rows:
        if isinstance(values, str):
            continue
        ref = reader.reference(values)
        try:
            person = reader.read(values)
            if person is FILTERED or not isinstance(person, Person) or ref is None:
                continue
            yield normalise_identity(bsn=person.bsn, given_names=person.given_names,
                                     prefix=person.prefix, surname=person.surname,
                                     date_of_birth=person.date_of_birth), ref
        except InvalidInput:
            continue


def _chunks(items: Iterable[tuple[Identity, str]], size: int
            ) -> Iterator[list[tuple[Identity, str]]]:
    chunk: list[tuple[Identity, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_csv(path: Path, shown: Sequence[ShownSignal]) -> None:
    """The signals as CSV (mode 0600: the references are the agency's own data)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise AdapterUsageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for item in shown:
            # safe_row: references and case numbers must not become spreadsheet formulas.
            writer.writerow(safe_row(item.row()))
    os.replace(tmp, path)


def table(shown: Sequence[ShownSignal], out: TextIO | None = None) -> str:
    """The signals as an aligned text table."""
    rows = [HEADER, *(tuple(_plain(c) for c in item.row()) for item in shown)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    buf = io.StringIO()
    for r in rows:
        buf.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    text = buf.getvalue()
    if out is not None:
        out.write(text)
    return text


def _plain(value: str) -> str:
    """One line of printable text: a reference from the export is shown, never obeyed (no
    terminal escapes)."""
    return "".join(c if c.isprintable() else "?" for c in value)


__all__ = ["HEADER", "ShownSignal", "SignalsResult", "fetch_and_resolve", "table",
           "write_csv"]
