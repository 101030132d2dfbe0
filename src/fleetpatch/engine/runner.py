"""Bounded-concurrency runner: calls a per-host coroutine for many hosts with asyncio-pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from asyncio_pool import AioPool

from fleetpatch.inventory.model import Host
from fleetpatch.results import HostResult

Worker = Callable[[Host], Awaitable[HostResult]]
ResultSink = Callable[[HostResult], None]


async def run_hosts(
    hosts: Iterable[Host],
    worker: Worker,
    *,
    concurrency: int,
    on_result: ResultSink | None = None,
    should_start: Callable[[], bool] | None = None,
) -> list[HostResult]:
    """Run ``worker`` for every host, at most ``concurrency`` at a time.

    ``on_result`` is called as each host finishes (so callers can store results as they come
    and a Ctrl-C loses nothing that finished); the results are then the caller's to keep, and
    the returned list is empty (a 10,000-host run must not hold every full result twice).
    Without ``on_result`` the results are returned. ``should_start`` is asked before each new host
    starts; when it says no, no further host starts and those already running finish.

    Raises:
        asyncio.CancelledError: the run was cancelled; hosts still running were cancelled too,
            and results of finished hosts were already passed to ``on_result``.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    results: list[HostResult] = []
    slots = asyncio.Semaphore(concurrency)

    def finished(fut: asyncio.Future[HostResult]) -> None:
        slots.release()
        if fut.cancelled() or fut.exception() is not None:
            return
        result = fut.result()
        if on_result is not None:
            on_result(result)
        else:
            results.append(result)

    pool = AioPool(size=concurrency)
    try:
        for host in hosts:
            # Wait for a free slot first, then ask: a failure that happened while we waited
            # must be able to stop this host from starting.
            await slots.acquire()
            if should_start is not None and not should_start():
                slots.release()
                break
            future = await pool.spawn(worker(host))
            future.add_done_callback(finished)
        await pool.join()
    except asyncio.CancelledError:
        await pool.cancel()
        raise
    return results
