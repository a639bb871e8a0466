"""The service's adaptive batcher: requests waiting while a batch is scored form the next
batch, each gets its own result, and a failed batch fails each of its requests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fti_assets.serving.batching import AdaptiveBatcher


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


def test_a_small_batch_is_scored_on_the_event_loop_and_a_large_one_on_the_scoring_thread() -> None:
    scored_on: list[tuple[int, str]] = []

    def score(items: list[int]) -> list[int]:
        scored_on.append((len(items), threading.current_thread().name))
        return items

    async def run() -> str:
        batcher = AdaptiveBatcher(score, inline_flights=4)
        try:
            await batcher.submit(1, 4)  # four flights: inline
            await batcher.submit(2, 5)  # five: the thread
            return threading.current_thread().name
        finally:
            batcher.close()

    loop_thread = asyncio.run(run())
    assert scored_on[0] == (1, loop_thread)
    assert scored_on[1][1].startswith("scoring") and scored_on[1][1] != loop_thread


def test_with_inline_scoring_off_every_batch_goes_to_the_scoring_thread() -> None:
    threads: list[str] = []

    async def run() -> None:
        batcher = AdaptiveBatcher(lambda items: threads.append(threading.current_thread().name) or items)
        try:
            await batcher.submit(1, 1)
        finally:
            batcher.close()

    asyncio.run(run())
    assert threads[0].startswith("scoring")
