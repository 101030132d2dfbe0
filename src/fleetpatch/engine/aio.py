"""Running the event loop for one command."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with the result kept out of the loop's main task, and Ctrl-C
    handled by the event loop itself.

    * **The result.** On the way out, Python 3.11's ``asyncio.Runner`` passes its Ctrl-C
      handler, which holds the main task, through ``signal``'s enum conversion; that fails and
      formats ``repr()`` of the handler, hence of the task and of its result. With a whole run
      as the result, that is two reprs of every host's result: ~67 ms at 200 hosts, linear in
      the hosts (docs/benchmarks.md). Here the main task's result is None.
    * **Ctrl-C.** The runner's own handler is a plain ``signal.signal`` handler: when the
      kernel hands SIGINT to another thread of the process (asyncssh's executor threads), the
      loop is not woken, and the interrupt waits for the next timer, up to a connect timeout.
      ``loop.add_signal_handler`` routes the signal through the loop's wake-up pipe, whichever
      thread receives it. As with the runner: the first Ctrl-C cancels ``main`` (the scan and
      rollouts stop starting hosts and keep what finished); a second one raises
      KeyboardInterrupt. When ``main`` ends cancelled after a Ctrl-C, KeyboardInterrupt is
      raised, as the runner does.
    """
    box: list[T] = []

    async def keep() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses > 1:
                raise KeyboardInterrupt
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            installed = False
        try:
            box.append(await main)
        except asyncio.CancelledError:
            if presses:
                raise KeyboardInterrupt from None
            raise
        finally:
            if installed:
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGINT)

    asyncio.run(keep())
    return box[0]
