"""Running the event loop for one command."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with the result kept out of the loop's main task.

    On the way out, Python 3.11's ``asyncio.Runner`` passes its Ctrl-C handler, which holds the
    main task, through ``signal``'s enum conversion; that fails and formats ``repr()`` of the
    handler, hence of the task and of its result. With a whole run as the result, that is two
    reprs of every host's result: ~67 ms at 200 hosts, linear in the hosts
    (docs/benchmarks.md). Here the main task's result is None.
    """
    box: list[T] = []

    async def keep() -> None:
        box.append(await main)

    asyncio.run(keep())
    return box[0]
