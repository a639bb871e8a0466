"""The service's adaptive batcher: requests waiting while a batch is scored form the next
batch, each gets its own result, and a failed batch fails each of its requests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fti_assets.inference.serving.batching import AdaptiveBatcher


def test_requests_waiting_during_a_batch_are_scored_together_each_getting_its_own_result() -> None:
    release, batches = threading.Event(), []

    def score(items: list[int]) -> list[int]:
        batches.append(list(items))
        release.wait(5)  # a batch holds the scoring thread until the test lets it go
        return [i * 10 for i in items]

    async def run() -> list[int]:
        batcher = AdaptiveBatcher(score, max_flights=30)
        first = asyncio.create_task(batcher.submit(0, 1))
        while not batches:  # the first request is being scored alone: nothing made it wait
            await asyncio.sleep(0.01)
        tasks = [first, *(asyncio.create_task(batcher.submit(i, 1)) for i in range(1, 50))]
        await asyncio.sleep(0.1)
        release.set()
        try:
            return await asyncio.gather(*tasks)
        finally:
            batcher.close()

    assert asyncio.run(run()) == [i * 10 for i in range(50)]
    # Those that arrived meanwhile are scored together, up to max_flights, in arrival order.
    assert batches == [[0], list(range(1, 31)), list(range(31, 50))]


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_still_runs() -> None:
    calls = []

    def score(items: list[str]) -> list[str]:
        calls.append(items)
        if "bad" in items:
            raise RuntimeError("store down")
        return [i.upper() for i in items]

    async def run() -> None:
        batcher = AdaptiveBatcher(score)
        try:
            with pytest.raises(RuntimeError, match="store down"):
                await batcher.submit("bad", 1)
            assert await batcher.submit("ok", 1) == "OK"
        finally:
            batcher.close()

    asyncio.run(run())
    assert calls == [["bad"], ["ok"]]
