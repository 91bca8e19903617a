"""How late the gateway's event loop runs, measured only while predictions arrive.

Admission control counts the requests inside the app; when the loop itself falls behind
(its CPU is short), requests wait in socket buffers where no bound sees them, and both
refusals and replies come late. A timer that should fire every ``tick_s`` shows that
wait: the lateness of its callback is the loop's lag. The same ticks read the process's
CPU time: a gateway using most of a core is short of CPU too, though its loop is on time
when it is the one keeping the core busy. It runs only within ``idle_after_s`` of the last
prediction, so an idle gateway wakes for nothing. They also turn the count of served
predictions into a rate: replies that flow tell an overload from a stall.
"""

import asyncio
import time
from collections.abc import Callable

TICK_S = 0.005
IDLE_AFTER_S = 1.0
#: The CPU share is an average over about this long (each tick weighs its length).
CPU_WINDOW_S = 0.2
#: The served rate too; longer, so the burst of replies that ends a stall weighs little.
SERVED_WINDOW_S = 0.5


class LoopLag:
    """The loop's lag: the lesser lateness of the last two ticks (one preemption is noise)."""

    def __init__(self, tick_s: float = TICK_S, idle_after_s: float = IDLE_AFTER_S) -> None:
        self.tick_s = tick_s
        self.idle_after_s = idle_after_s
        self.lag_s = 0.0
        self._last_late_s = 0.0
        self._due: float | None = None
        self._last_request = 0.0
        #: Share of one core the process used lately (all its threads), 0 when idle.
        self.cpu_share = 0.0
        self._cpu_mark: tuple[float, float] | None = None  # (loop time, process CPU time)
        #: Predictions answered 200 per second lately, 0 when idle.
        self.served_per_s = 0.0
        self._served_since_tick = 0
        #: Called with the lag after each tick (the gateway's histogram), when set.
        self.observe: Callable[[float], None] | None = None

    @property
    def ticking(self) -> bool:
        """True while a tick is scheduled (predictions arrived within ``idle_after_s``)."""
        return self._due is not None

    def saw_request(self, loop: asyncio.AbstractEventLoop) -> None:
        """A prediction arrived: keep (or start) ticking."""
        self._last_request = loop.time()
        if self._due is None:
            self._schedule(loop)

    def saw_served(self) -> None:
        """A prediction was answered with its reply."""
        self._served_since_tick += 1

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self.tick_s
        loop.call_at(self._due, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        late_s = max(0.0, now - (self._due or now))
        self.lag_s, self._last_late_s = min(late_s, self._last_late_s), late_s
        if self.observe is not None:
            self.observe(self.lag_s)
        self._measure_rates(now)
        if now - self._last_request > self.idle_after_s:
            self._due, self.lag_s, self._last_late_s = None, 0.0, 0.0
            self.cpu_share, self._cpu_mark = 0.0, None
            self.served_per_s, self._served_since_tick = 0.0, 0
            return
        self._schedule(loop)

    def _measure_rates(self, now: float) -> None:
        cpu = time.process_time()
        if self._cpu_mark is not None:
            wall = now - self._cpu_mark[0]
            if wall > 0:
                share = (cpu - self._cpu_mark[1]) / wall
                self.cpu_share += (share - self.cpu_share) * min(1.0, wall / CPU_WINDOW_S)
                rate = self._served_since_tick / wall
                self.served_per_s += (rate - self.served_per_s) * min(1.0, wall / SERVED_WINDOW_S)
        self._served_since_tick = 0
        self._cpu_mark = (now, cpu)
