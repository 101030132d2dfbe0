"""run_main: asyncio.run without the result of the whole run being formatted on the way out."""

from __future__ import annotations

import asyncio

import pytest

from fleetpatch.engine.aio import run_main


class _Counted:
    reprs = 0

    def __repr__(self) -> str:
        type(self).reprs += 1
        return "<counted>"


async def _produce() -> _Counted:
    await asyncio.sleep(0)
    return _Counted()


def test_returns_the_coroutines_result_without_formatting_it() -> None:
    _Counted.reprs = 0
    result = run_main(_produce())
    assert isinstance(result, _Counted)
    assert _Counted.reprs == 0


def test_exceptions_propagate() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_main(fail())
