"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections on loopback, each
sending the next request as soon as the previous answer is in. Raw asyncio sockets with
pre-encoded requests keep the client's own CPU cost low (it shares the machine with the
server). Bounded in count and time; loopback targets only."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        return (f"{label:<34} {self.rate:8.0f} req/s   p50 {self.percentile(50) * 1000:6.2f} ms"
                f"   p99 {self.percentile(99) * 1000:6.2f} ms   errors {self.errors}")


def post_request(host: str, port: int, path: str, body: bytes, token: str | None) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: keep-alive"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, requests: itertools.cycle, deadline: float,
                  max_requests: int, result: LoadResult, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and counter[0] < max_requests:
            counter[0] += 1
            started = time.perf_counter()
            writer.write(next(requests))
            status = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status != 200:
                result.errors += 1
    finally:
        writer.close()


async def _run(host: str, port: int, requests: Sequence[bytes], concurrency: int,
               seconds: float, max_requests: int) -> LoadResult:
    result = LoadResult()
    cycle = itertools.cycle(requests)
    counter = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, cycle, deadline, max_requests, result, counter)
                           for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run_load(host: str, port: int, requests: Sequence[bytes], *, concurrency: int,
             seconds: float, max_requests: int = 10_000_000) -> LoadResult:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("load tests target loopback only")
    try:
        import uvloop

        return uvloop.run(_run(host, port, requests, concurrency, seconds, max_requests))
    except ImportError:
        return asyncio.run(_run(host, port, requests, concurrency, seconds, max_requests))


__all__ = ["LoadResult", "post_request", "run_load"]


