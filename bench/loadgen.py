"""A small HTTP/1.1 load generator on asyncio streams (keep-alive, loopback).

Closed loop: N connections each send the next request when the previous answer arrives.
Open loop: requests start on a fixed schedule at a given rate whatever the server does, and
latency counts from the moment a request is due to go out, including any wait for a free
connection, so a slow server cannot hide its queueing. (asyncio wakes timers up to 1 ms
late; that lateness of the client's own clock is not charged to the server.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

STAGGER_SECONDS = 0.05


@dataclass
class Result:
    latencies_ms: np.ndarray
    seconds: float
    errors: int

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> bool:
    writer.write(payload)
    await writer.drain()
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status.split(b" ")[1] == b"200"


async def _closed(host: str, port: int, payload: bytes, connections: int, seconds: float) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        # Connections opened all at once are all accepted by whichever server worker wakes
        # first; opened one by one under load, they spread as a real client's would.
        await asyncio.sleep(i * STAGGER_SECONDS)
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            ok = await _exchange(reader, writer, payload)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += not ok
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return Result(np.array(latencies), time.perf_counter() - began, errors)


async def _open(host: str, port: int, payload: bytes, rate: float, seconds: float, pool: int) -> Result:
    latencies: list[float] = []
    errors = 0
    connections: list = []
    free: asyncio.Queue = asyncio.Queue()

    async def one() -> None:
        nonlocal errors
        due = time.perf_counter()
        if free.empty() and len(connections) < pool:  # opened on demand, under load (see _closed)
            connections.append(await asyncio.open_connection(host, port))
            free.put_nowait(connections[-1])
        reader, writer = await free.get()
        try:
            ok = await _exchange(reader, writer, payload)
        finally:
            free.put_nowait((reader, writer))
        latencies.append((time.perf_counter() - due) * 1000)
        errors += not ok

    began = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = began + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    for _, writer in connections:
        writer.close()
    return Result(np.array(latencies), time.perf_counter() - began, errors)


def closed_loop(
    url_port: int, payload: bytes, connections: int, seconds: float, host: str = "127.0.0.1"
) -> Result:
    return asyncio.run(_closed(host, url_port, payload, connections, seconds))


def open_loop(
    url_port: int, payload: bytes, rate: float, seconds: float, pool: int = 64, host: str = "127.0.0.1"
) -> Result:
    return asyncio.run(_open(host, url_port, payload, rate, seconds, pool))
