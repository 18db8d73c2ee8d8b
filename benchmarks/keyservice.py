"""The OPRF key service's evaluation throughput, and the adapter's side of the protocol.

    .venv/bin/python benchmarks/keyservice.py [--elements 200000] [--threads 2]

Prints elements/s for: the bare libsodium evaluation in one thread; the served key service
(``hitmachine keyservice serve``, a separate process on loopback) evaluating binary batches
of 50,000 elements from one and from two concurrent clients; and the client's blind and
finalize steps. A 1,000,000-row export is about 1.7 million elements (a BSN and a name key
for most rows), so the served figure bounds how fast an oprf publish can go.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.query import free_port  # noqa: E402
from hitmachine.core import oprf  # noqa: E402
from hitmachine.core.keyservice_client import KeyServiceClient  # noqa: E402


class KeyServiceProcess:
    """``hitmachine keyservice init/token create/serve`` in ``directory``, on loopback."""

    def __init__(self, directory: Path, *, version: int = 1, threads: int = 2,
                 workers: int = 1) -> None:
        self.env = {**os.environ, "HITMACHINE_KEYSERVICE_DIR": str(directory),
                    "HITMACHINE_KEYSERVICE_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
        run = [sys.executable, "-m", "hitmachine.cli.main", "keyservice"]
        subprocess.run(run + ["init", "--version", str(version)], env=self.env, check=True,
                       capture_output=True)
        self.token = subprocess.run(run + ["token", "create", "--name", "bench adapter"],
                                    env=self.env, check=True, capture_output=True,
                                    text=True).stdout.strip()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(run + ["serve", "--port", str(self.port), "--workers",
                                            str(workers)], env=self.env,
                                     stdout=(directory / "serve.log").open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"key service did not start; see {directory / 'serve.log'}")

    def write_token(self, path: Path) -> Path:
        path.write_text(self.token + "\n")
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2, help="key service threads")
    args = parser.parse_args()
    n = args.elements
    print(f"{n:,} elements, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    inputs = [b"hitmachine/pseudonym/1\x00\x03bsn" + i.to_bytes(8, "big") for i in range(n)]

    started = time.perf_counter()
    blinded = oprf.blind_batch(inputs)
    blind_s = time.perf_counter() - started
    elements = [b for _, b in blinded]
    key = oprf.OprfKey.generate()
    sample = elements[: min(n, 50_000)]
    started = time.perf_counter()
    key.blind_evaluate_batch(sample)
    bare = len(sample) / (time.perf_counter() - started)
    print(f"client blind:                 {n / blind_s:9,.0f} elements/s (one core)")
    print(f"bare evaluation, one thread:  {bare:9,.0f} elements/s")

    with tempfile.TemporaryDirectory(prefix="hm-bench-ks-") as tmp:
        ks = KeyServiceProcess(Path(tmp), threads=args.threads)
        try:
            for clients in (1, 2):
                client = KeyServiceClient(ks.url, ks.token)
                parts = [elements[i::clients] for i in range(clients)]
                started = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(partial(client.evaluate, 1), parts))
                rate = n / (time.perf_counter() - started)
                print(f"served key service, {clients} client{'s' if clients > 1 else ' '}: "
                      f"{rate:9,.0f} elements/s ({args.threads} threads, batches of 50,000)")
            evaluated = client.evaluate(1, elements)
        finally:
            ks.stop()
    started = time.perf_counter()
    oprf.finalize_batch(inputs, [r for r, _ in blinded], evaluated)
    print(f"client finalize:              {n / (time.perf_counter() - started):9,.0f} elements/s "
          f"(one core)")


if __name__ == "__main__":
    main()
