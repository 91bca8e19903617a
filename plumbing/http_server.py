"""uvicorn's server, woken once a second at rest instead of ten times.

``uvicorn.Server.main_loop`` sleeps 0.1 s between ticks to see ``should_exit`` and to
refresh the Date header once a second: ten wake-ups a second for an idle process, each
one a turn of the event loop. Here the loop ticks once a second (the Date header keeps its
one-second resolution) and a request to exit wakes it at once, so stopping is no slower.
"""

import asyncio
import contextlib

import uvicorn

#: uvicorn refreshes the Date header when its tick counter is a multiple of this.
_TICKS_PER_HEADER = 10
_COUNTER_WRAP = 864_000
TICK_S = 1.0


class QuietServer(uvicorn.Server):
    """``uvicorn.Server`` whose idle loop ticks every ``TICK_S`` and exits on request."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._should_exit = False
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        # Set by a signal handler or another thread: wake the main loop through its own loop.
        self._should_exit = value
        if value and self._exit_wakeup is not None:
            loop, wakeup = self._exit_wakeup
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                loop.call_soon_threadsafe(wakeup.set)

    async def main_loop(self) -> None:
        wakeup = asyncio.Event()
        self._exit_wakeup = (asyncio.get_running_loop(), wakeup)
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + _TICKS_PER_HEADER) % _COUNTER_WRAP
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), TICK_S)
