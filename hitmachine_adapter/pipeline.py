"""The local half of a run: source rows → mapping → normalise → pseudonymise → spool file.

Everything here happens at the agency, before anything is sent. Rows go in chunks (of
``CHUNK`` rows) through ``process_chunk``: the mapping turns a row into name parts and a
birth date, ``hitmachine.core.identity`` normalises them (the very code the query path
uses), and the pseudonymiser (``hitmachine_adapter.pseudonymise``, the one seam to the scheme)
turns a whole chunk of identities into pseudonyms in one call. With more than one worker the chunks are spread over processes
(the keyed hash and the normalisation are pure CPU); the main process reads the source and
writes, in source order:

- the spool: one 97-byte record per entry (``hitmachine.core.wire``), exactly the bytes
  of the batches that will be sent, with its SHA-256;
- the rejects file: ``row,line,fields,reason`` per unusable row, never the row's content
  (and ``reference``, the row's client or case number, when the mapping names one).

Only when the whole source has been read, and the rejects are within the limit, does the
caller publish the spool. So a run with too many rejects sends nothing at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from hitmachine.core import wire
from hitmachine.core.csv_cells import safe_row
from hitmachine.core.errors import InvalidInput
from hitmachine.core.files import AtomicFile
from hitmachine.core.identity import Identity, normalise_identity
from hitmachine_adapter.errors import AdapterTimeout
from hitmachine_adapter.mapping import Mapping
from hitmachine_adapter.pseudonymise import Keys, make_pseudonymiser
from hitmachine_adapter.rows import FILTERED, Person, Row, RowReader
from hitmachine_adapter.source import CsvLayout, CsvSource, Source

CHUNK = 5000
KEEP_REJECTS = 1000   # how many rejects a result keeps in memory (the file has them all)
CHUNK_TIMEOUT = 600.0  # seconds a worker may take over one chunk before the run gives up
STOP_TIMEOUT = 10.0    # seconds the pool gets to stop before its workers are killed
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that could not be used: where it is and why, never its content."""

    row: int
    fields: tuple[str, ...]
    reason: str
    line: int | None = None
    reference: str | None = None   # the mapping's reference column (a client number)


@dataclass
class LocalResult:
    rows_read: int = 0
    filtered: int = 0
    rejected: int = 0
    entries: int = 0
    digest: str = ""
    rejects: list[Reject] = field(default_factory=list)

    @property
    def considered(self) -> int:
        return self.rows_read - self.filtered

    def reject_fraction(self) -> float:
        return self.rejected / self.considered if self.considered else 0.0


# --------------------------------------------------------------------------- one chunk

ChunkOut = tuple[bytes, list[Reject], int, int]   # records, rejects, rows, filtered
_WORKER: dict[str, Any] = {}


def init_worker(mapping: Mapping, keyring: Keys, version: int, *,
                in_pool: bool = False) -> None:
    if in_pool:
        # Stopping is the parent's to handle: it ends the pool. A worker must not run the
        # parent's SIGTERM handler (which raises KeyboardInterrupt): terminating the pool
        # would then unwind it while it holds a queue lock, and the parent waits forever.
        # The parent blocked both signals around the fork; they arrive from here on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _WORKER.update(reader=RowReader(mapping), pseudonymiser=make_pseudonymiser(keyring),
                   version=version)


def _pool_init(mapping: Mapping, keyring: Keys, version: int) -> None:
    init_worker(mapping, keyring, version, in_pool=True)


def _reject(number: int, line: int | None, exc: InvalidInput,
            reference: str | None = None) -> Reject:
    return Reject(number, tuple(e.field for e in exc.errors),
                  "; ".join(f"{e.field} {e.message}" for e in exc.errors), line, reference)


def process_chunk(rows: list[Row]) -> ChunkOut:
    """Normalise and pseudonymise one chunk (in a worker, or in-process)."""
    reader: RowReader = _WORKER["reader"]
    identities: list[Identity] = []
    rejects: list[Reject] = []
    filtered = 0
    for number, line, values in rows:
        if isinstance(values, str):
            rejects.append(Reject(number, ("row",), values, line))
            continue
        try:
            person = reader.read(values)
            if person is FILTERED:
                filtered += 1
                continue
            assert isinstance(person, Person)
            identities.append(normalise_identity(
                bsn=person.bsn, given_names=person.given_names, prefix=person.prefix,
                surname=person.surname, date_of_birth=person.date_of_birth))
        except InvalidInput as exc:
            rejects.append(_reject(number, line, exc, reader.reference(values)))
    sets = _WORKER["pseudonymiser"].pseudonymise(identities, _WORKER["version"])
    encode = wire.encode_entry
    records = b"".join([encode(s.bsn, s.name, s.bsn_birth) for s in sets])
    return records, rejects, len(rows), filtered


BlockOut = tuple[bytes, list[Reject], int, int, int]  # ... and records consumed


def process_block(block: bytes, first_line: int, layout: CsvLayout) -> BlockOut:
    """Parse a block of whole CSV records, then as ``process_chunk``. Row numbers in the
    rejects count from the block's start; the caller adds the records before it."""
    counter = [0]
    text = block.decode(layout.encoding, errors="replace")
    rows = list(layout.rows(io.StringIO(text, newline=""), first_line, counter))
    records, rejects, count, filtered = process_chunk(rows)
    return records, rejects, count, filtered, counter[0]


# --------------------------------------------------------------------------- rejects file

class RejectsFile:
    """``row,line,fields,reason`` per rejected row, written to a temporary file and moved
    into place at the end, so the file always describes one whole run."""

    HEADER = ("row", "line", "fields", "reason")

    def __init__(self, path: Path | None, *, reference: bool = False) -> None:
        self.path = path
        self._reference = reference   # a last column: the mapping's reference, if it has one
        self._out = AtomicFile(path, newline="") if path is not None else None
        if self._out is not None:
            self._writer = csv.writer(self._out.handle)
            self._writer.writerow(safe_row(self.HEADER + (("reference",) if reference else ())))

    def write(self, rejects: Iterable[Reject]) -> None:
        if self._out is not None:
            # safe_row: field names and references come from the agency's export and must not
            # run as a formula when someone opens the file in a spreadsheet.
            self._writer.writerows(safe_row((r.row, "" if r.line is None else r.line,
                                             " ".join(r.fields), r.reason,
                                             *((r.reference or "",) if self._reference else ())))
                                   for r in rejects)

    def finish(self) -> None:
        if self._out is not None:
            self._out.commit()
            self._out = None

    def discard(self) -> None:
        if self._out is not None:
            self._out.discard()
            self._out = None


# --------------------------------------------------------------------------- the whole source

def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while True:
        block = list(islice(rows, size))
        if not block:
            return
        yield block


class ChunkRunner:
    """Runs ``process_chunk`` in-process or over a pool of forked workers, in order.

    Create it *before* opening the source (and before any thread starts): the workers are
    forked at creation, so they inherit no open database connection or lock."""

    def __init__(self, mapping: Mapping, keyring: Keys, version: int, workers: int) -> None:
        self.workers = workers
        self._pool = None
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            # Blocked while forking (the pool's threads keep the mask, and so do workers it
            # forks later): no worker can be signalled before its initializer resets them.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                self._pool = ctx.Pool(workers, initializer=_pool_init,
                                      initargs=(mapping, keyring, version))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        else:
            self.workers = 1
            init_worker(mapping, keyring, version)

    def map(self, source: Source) -> Iterator[ChunkOut]:
        """Every row of ``source`` processed, chunk by chunk, in source order."""
        if self._pool is None:
            for chunk in _chunks(source.rows(), CHUNK):
                yield process_chunk(chunk)
            return
        if isinstance(source, CsvSource) and source.splittable:
            # The workers parse the CSV too: the main process only cuts the file into
            # blocks of whole records, so it never becomes the bottleneck.
            layout = source.layout
            offset = 0
            for records, rejects, count, filtered, consumed in self._ordered(
                    (process_block, (block, line, layout)) for block, line in source.blocks()):
                if rejects:
                    rejects = [replace(r, row=r.row + offset) for r in rejects]
                offset += consumed
                yield records, rejects, count, filtered
            return
        yield from self._ordered((process_chunk, (chunk,))
                                 for chunk in _chunks(source.rows(), CHUNK))

    def _ordered(self, jobs: Iterator[tuple[Callable[..., Any], tuple[Any, ...]]]
                 ) -> Iterator[Any]:
        """Results in submission order, with a bounded number of jobs in flight."""
        assert self._pool is not None
        window: deque[Any] = deque()
        for fn, args in jobs:
            window.append(self._pool.apply_async(fn, args))
            if len(window) >= 2 * self.workers:
                yield self._result(window.popleft())
        while window:
            yield self._result(window.popleft())

    @staticmethod
    def _result(pending: Any) -> Any:
        # A worker that died (killed, out of memory) never answers: the pool replaces it
        # but its chunk is lost. Waiting without end would hang the run and hold its lock.
        try:
            return pending.get(CHUNK_TIMEOUT)
        except multiprocessing.TimeoutError:
            raise AdapterTimeout(f"a worker gave no result within {CHUNK_TIMEOUT:.0f}s "
                                 "(it may have been killed); nothing was published") from None

    def close(self, *, finished: bool = False) -> None:
        """Stop the workers: let them exit (``finished``: every result is in) or terminate
        them. Bounded: workers that do not stop in time are killed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return

        def stop() -> None:
            pool.close() if finished else pool.terminate()
            pool.join()

        stopper = threading.Thread(target=stop, name="hitmachine-pool-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT)
        if stopper.is_alive():
            for child in multiprocessing.active_children():
                child.kill()
            stopper.join(STOP_TIMEOUT)

    def __enter__(self) -> "ChunkRunner":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(finished=exc_type is None)


def pseudonymise_to_spool(source: Source, runner: ChunkRunner, spool: Path,
                          rejects: RejectsFile,
                          progress: Callable[[int], None] | None = None) -> LocalResult:
    """Read every row; write the spool (records in source order) and the rejects file."""
    result = LocalResult()
    digest = hashlib.sha256()
    spool.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb", buffering=1 << 20) as out:
        for records, chunk_rejects, count, filtered in runner.map(source):
            out.write(records)
            digest.update(records)
            result.rows_read += count
            result.filtered += filtered
            result.entries += len(records) // wire.RECORD_BYTES
            if chunk_rejects:
                result.rejected += len(chunk_rejects)
                rejects.write(chunk_rejects)
                room = KEEP_REJECTS - len(result.rejects)
                if room > 0:
                    result.rejects.extend(chunk_rejects[:room])
            if progress:
                progress(count)
        out.flush()
        os.fsync(out.fileno())
    result.digest = digest.hexdigest()
    return result


def read_records(spool: Path, start: int, count: int) -> bytes:
    """``count`` records from record number ``start`` of a spool file."""
    with spool.open("rb") as fh:
        fh.seek(start * wire.RECORD_BYTES)
        return fh.read(count * wire.RECORD_BYTES)


__all__ = ["CHUNK", "ChunkRunner", "LocalResult", "Reject", "RejectsFile", "init_worker",
           "process_chunk", "pseudonymise_to_spool", "read_records"]
