"""A small HTTP/1.1 load generator on loopback, in two modes.

Closed loop (``run_load``): N keep-alive connections, each sending the next request as soon
as the previous answer is in; it finds the throughput ceiling, but a slow answer delays the
requests behind it, so its latencies understate what callers at a steady rate would see.

Open loop (``run_open_loop``): requests are scheduled at a fixed rate whatever the answers
do, and each latency runs from the request's *scheduled* send time, so waiting for a free
connection or a late client counts against the server's figure rather than vanishing
(no coordinated omission). The result says whether the client itself kept up.

Raw asyncio sockets with pre-encoded requests keep the client's own CPU cost low (it shares
the machine with the server). Bounded in count and time; loopback targets only."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass
class LoadResult:
    requests: int = 0  # answered, whatever the status
    errors: int = 0  # answered with a status other than 200, or not answered at all
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def answered(self) -> int:
        """Requests answered 200: the ones that produced an answer (and an audit record)."""
        return self.statuses.get(200, 0)

    def add(self, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200:
            self.errors += 1

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        return (f"{label:<34} {self.rate:8.0f} req/s   p50 {self.percentile(50) * 1000:6.2f} ms"
                f"   p99 {self.percentile(99) * 1000:6.2f} ms   errors {self.errors}")


# A dispatch this much later than its schedule means the client, not the server, was slow.
LATE_SEND = 0.005


@dataclass
class OpenLoopResult(LoadResult):
    """An open-loop run; each latency runs from the request's scheduled send time."""

    target_rate: float = 0.0
    scheduled: int = 0
    failures: int = 0  # no answer at all: connection error or timeout (counted in errors too)
    send_lags: list[float] = field(default_factory=list)  # dispatch time - scheduled time
    pool_waits: int = 0  # requests that found every connection busy
    connections: int = 0  # connections opened in all

    @property
    def late_sends(self) -> int:
        return sum(lag > LATE_SEND for lag in self.send_lags)

    @property
    def kept_up(self) -> bool:
        """Whether every request left on schedule, so the latencies are the server's."""
        return self.late_sends == 0 and self.pool_waits == 0

    def fail(self) -> None:
        self.failures += 1
        self.errors += 1

    def lines(self) -> list[str]:
        ms = [self.percentile(p) * 1000 for p in (50, 90, 99, 100)]
        verdict = ("kept up" if self.kept_up
                   else "FELL BEHIND, so some latencies include the client's own delay")
        summary = (f"open loop at {self.target_rate:.0f} req/s: {self.scheduled} scheduled,"
                   f" achieved {self.rate:.1f} req/s, answered {self.answered}, errors"
                   f" {self.errors} (no answer {self.failures},"
                   f" statuses {dict(sorted(self.statuses.items()))})")
        latency = (f"  latency from scheduled send: p50 {ms[0]:.2f} ms   p90 {ms[1]:.2f} ms"
                   f"   p99 {ms[2]:.2f} ms   max {ms[3]:.2f} ms")
        client = (f"  client: {self.connections} connections, max send lag"
                  f" {max(self.send_lags, default=0.0) * 1000:.1f} ms, {self.late_sends} sends"
                  f" more than {LATE_SEND * 1000:.0f} ms late, {self.pool_waits} waits for a"
                  f" free connection: {verdict}")
        return [summary, latency, client]


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


async def _worker(host: str, port: int, requests: itertools.cycle[bytes], deadline: float,
                  max_requests: int, result: LoadResult, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and counter[0] < max_requests:
            counter[0] += 1
            started = time.perf_counter()
            writer.write(next(requests))
            status = await _read_response(reader)
            result.add(status, time.perf_counter() - started)
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


def _check_loopback(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("load tests target loopback only")


def _run_loop(coroutine: Coroutine[Any, Any, R]) -> R:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def run_load(host: str, port: int, requests: Sequence[bytes], *, concurrency: int,
             seconds: float, max_requests: int = 10_000_000) -> LoadResult:
    """Closed loop: ``concurrency`` connections, each sending again once answered."""
    _check_loopback(host)
    return _run_loop(_run(host, port, requests, concurrency, seconds, max_requests))


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class _Pool:
    """At most ``limit`` keep-alive connections, opened on demand; the most recently used
    idle one is reused first, so a steady rate keeps only a few connections warm."""

    def __init__(self, host: str, port: int, limit: int, result: OpenLoopResult) -> None:
        self._host, self._port, self._result = host, port, result
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)

    async def acquire(self) -> _Connection:
        if self._slots.locked():
            self._result.pool_waits += 1
        await self._slots.acquire()
        try:
            return await self._connection()
        except BaseException:  # also a timeout's cancellation: give the slot back
            self._slots.release()
            raise

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof():
                return conn
            conn.writer.close()  # the server closed it while idle (its keep-alive timeout)
        reader, writer = await asyncio.open_connection(self._host, self._port)
        self._result.connections += 1
        return _Connection(reader, writer)

    def release(self, conn: _Connection) -> None:
        self._idle.append(conn)
        self._slots.release()

    def discard(self, conn: _Connection) -> None:
        # A request that failed half-way leaves the stream in an unknown state.
        conn.writer.close()
        self._slots.release()

    def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()


async def _send(pool: _Pool, request: bytes, scheduled: float, timeout: float,
                result: OpenLoopResult) -> None:
    conn: _Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            conn = await pool.acquire()
            conn.writer.write(request)
            status = await _read_response(conn.reader)
    except (OSError, EOFError, ValueError, asyncio.LimitOverrunError, TimeoutError):
        if conn is not None:
            pool.discard(conn)
        result.fail()
        return
    pool.release(conn)
    result.add(status, time.perf_counter() - scheduled)


async def _open_loop(host: str, port: int, requests: Sequence[bytes], rate: float,
                     seconds: float, connections: int, timeout: float) -> OpenLoopResult:
    result = OpenLoopResult(target_rate=rate, scheduled=int(rate * seconds))
    pool = _Pool(host, port, connections, result)
    cycle = itertools.cycle(requests)
    in_flight: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for i in range(result.scheduled):
        # From the start, not from the previous send, so one late wake-up does not
        # shift every later request.
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        result.send_lags.append(time.perf_counter() - scheduled)
        in_flight.add(asyncio.create_task(_send(pool, next(cycle), scheduled, timeout, result)))
    if in_flight:
        await asyncio.wait(in_flight)  # each ends within its timeout
    result.seconds = time.perf_counter() - started
    pool.close()
    return result


def run_open_loop(host: str, port: int, requests: Sequence[bytes], *, rate: float,
                  seconds: float, connections: int = 256,
                  timeout: float = 10.0) -> OpenLoopResult:
    """Open loop: ``rate`` requests per second for ``seconds``, sent on schedule whether or
    not earlier ones are answered, over at most ``connections`` connections; a request not
    answered within ``timeout`` seconds of its send counts as an error."""
    _check_loopback(host)
    if rate <= 0 or seconds <= 0 or connections <= 0:
        raise ValueError("rate, seconds and connections must be positive")
    return _run_loop(_open_loop(host, port, requests, rate, seconds, connections, timeout))


__all__ = ["LoadResult", "OpenLoopResult", "post_request", "run_load", "run_open_loop"]
