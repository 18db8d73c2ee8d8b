"""The local half of a run: memory stays flat however long the source (by design: the
pipeline holds a bounded number of rows at any moment), rejects say where and why only,
and pseudonymisation goes through the one seam, a chunk at a time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitmachine.core import wire
from hitmachine.core.keyring import Keyring
from hitmachine_adapter import pipeline
from hitmachine_adapter.mapping import load_mapping
from hitmachine_adapter.pipeline import CHUNK, ChunkRunner, RejectsFile, pseudonymise_to_spool
from hitmachine_adapter.pseudonymise import make_pseudonymiser
from hitmachine_adapter.rows import Row
from hitmachine_adapter.source import CsvSource
from tests.helpers import make_bsn


class EndlessExport:
    """A source as long as asked, made up as it is read: nothing holds its rows but the
    pipeline. It records how far reading ran ahead of what the pipeline finished."""

    description = "generated"
    total = None

    def __init__(self, rows: int) -> None:
        self.rows_wanted = rows
        self.produced = 0
        self.finished = 0
        self.most_ahead = 0
        self._rng = random.Random(3)

    def rows(self) -> Iterator[Row]:
        for n in range(1, self.rows_wanted + 1):
            self.produced = n
            self.most_ahead = max(self.most_ahead, self.produced - self.finished)
            bsn = make_bsn(self._rng) if n % 4 else ""
            yield n, n + 1, (bsn, "Noor", "", f"Veld{n}", "2001-02-03")

    def position(self) -> int:
        return self.produced

    def close(self) -> None:
        pass

    def done(self, count: int) -> None:
        self.finished += count


@pytest.mark.parametrize("workers", [1, 2])
def test_memory_stays_flat_whatever_the_length_of_the_source(workers: int,
                                                             tmp_path: Path) -> None:
    # At most the chunks in flight (one in-process; two per worker in a pool) and the one
    # being read are held, however long the source: a fixed bound, below the source's length.
    bound = CHUNK * (1 + (2 * workers if workers > 1 else 0))
    rows = bound + 2 * CHUNK + 123
    source = EndlessExport(rows)
    spool = tmp_path / "spool.bin"
    with ChunkRunner(load_mapping("plain"), Keyring.generate(), 1, workers) as runner:
        result = pseudonymise_to_spool(source, runner, spool, RejectsFile(None),
                                       progress=source.done)
    assert (result.rows_read, result.entries, result.rejected) == (rows, rows, 0)
    assert spool.stat().st_size == rows * wire.RECORD_BYTES
    assert CHUNK <= source.most_ahead <= bound < rows


def test_a_csv_file_is_read_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    header = "bsn,given_names,prefix,surname,date_of_birth\n"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(header)
        for n in range(60_000):
            fh.write(f",Noor,,Veld{n},2001-02-03\n")
    source = CsvSource(path, load_mapping("plain"))
    rows = source.rows()
    assert next(rows)[:2] == (1, 2)
    assert source.position() < source.total // 20     # a few KiB read of ~1.6 MB
    blocks = CsvSource(path, load_mapping("plain")).blocks(size=1 << 16)
    sizes = [len(block) for block, _ in blocks]
    assert max(sizes) <= 2 << 16 and sum(sizes) == path.stat().st_size - len(header)
    source.close()


def test_pseudonymisation_is_one_call_per_chunk_through_the_seam(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = make_pseudonymiser

    class Counting:
        def __init__(self, keyring: Keyring) -> None:
            self.inner = real(keyring)

        def pseudonymise(self, identities, version):  # type: ignore[no-untyped-def]
            calls.append(len(identities))
            return self.inner.pseudonymise(identities, version)

    monkeypatch.setattr(pipeline, "make_pseudonymiser", Counting)
    source = EndlessExport(2 * CHUNK + 7)
    with ChunkRunner(load_mapping("plain"), Keyring.generate(), 1, 1) as runner:
        pseudonymise_to_spool(source, runner, tmp_path / "spool.bin", RejectsFile(None))
    assert calls == [CHUNK, CHUNK, 7]


def test_the_rejects_file_describes_a_whole_run_or_none(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    path.write_text("row,line,fields,reason\n1,2,bsn,from the previous run\n")
    rejects = RejectsFile(path)
    rejects.write([pipeline.Reject(7, ("bsn",), "bsn is not a valid BSN", 8)])
    assert "previous run" in path.read_text()           # not replaced until finished
    rejects.discard()
    assert "previous run" in path.read_text()           # an aborted run leaves it alone
    rejects = RejectsFile(path)
    rejects.write([pipeline.Reject(7, ("bsn",), "bsn is not a valid BSN", 8)])
    rejects.finish()
    assert path.read_text().splitlines() == ["row,line,fields,reason",
                                             "7,8,bsn,bsn is not a valid BSN"]
