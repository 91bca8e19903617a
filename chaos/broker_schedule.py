"""The broker phases of the cluster run, played beside the load, and what they did when.

A broker SIGKILLed (the busiest leader, then the active controller) and started after
``down_s``; then the three restarted one at a time (SIGTERM). Each broker started again
must be back in every ISR, and lead its preferred partitions again, before the next phase:
otherwise its peers lead everything it led, and the next broker stopped moves all of them
at once. As an operator would, the schedule moves them back itself, ``WARM_S`` after the
broker is in sync and one partition at a time (``kafka_cluster.restore_preferred_leaders``).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cli.settings import Settings
from stack import kafka_cluster, kafka_service, supervisor
from stack.supervisor import ServiceProcess

#: Load before the first kill, between phases, and after the last.
LEAD_S = 5.0
SETTLE_S = 5.0
#: A restarted broker replicates this long before it leads again: a JVM seconds old served
#: its first leaderships slowly, past the reply deadline.
WARM_S = 15.0
#: Between two leaderships moved back. Each stalls its partition's clients for up to ~1 s
#: (a metadata refresh, on a busy machine); 0.5 s apart, a request partition's stall and
#: then its reply partition's added up past the 2 s deadline.
LEADER_MOVE_PAUSE_S = 2.0
TAIL_S = 10.0


@dataclass(frozen=True)
class BrokerKill:
    """One broker SIGKILLed, down ``down_s``, started, and back in sync."""

    what: str  # "busiest leader" or "active controller"
    node_id: int
    killed_at: float
    started_at: float
    ready_at: float
    in_sync_at: float


@dataclass(frozen=True)
class RollStep:
    """One broker of the rolling restart: when its SIGTERM was sent, when it had exited,
    answered again, was back in every ISR, started taking its leaderships back, and led
    its preferred partitions again."""

    node_id: int
    stop_at: float
    exited_at: float
    ready_at: float
    in_sync_at: float
    moving_at: float
    leading_at: float

    def phases(self) -> tuple[tuple[str, float, float], ...]:
        return (
            ("stopping", self.stop_at, self.exited_at),
            ("down", self.exited_at, self.ready_at),
            ("catching up", self.ready_at, self.in_sync_at),
            ("warming", self.in_sync_at, self.moving_at),
            ("leaders back", self.moving_at, self.leading_at),
        )


@dataclass(frozen=True)
class RollingRestart:
    started_at: float
    ended_at: float
    steps: tuple[RollStep, ...]

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(step.node_id for step in self.steps)


class BrokerSchedule:
    """The broker phases, played in a thread beside the load; sets ``done`` at the end.

    What it did is in ``kills`` and ``rolling``; what stopped it early, in ``error``."""

    def __init__(self, settings: Settings, down_s: float, log: Callable[[str], None]) -> None:
        self._settings = settings
        self._down_s = down_s
        self._log = log
        self.nodes: dict[int, ServiceProcess] = {
            i: kafka_service.process(settings, i) for i in range(1, settings.kafka_nodes + 1)
        }
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.kills: list[BrokerKill] = []
        self.rolling: RollingRestart | None = None

    def run(self) -> None:
        try:
            time.sleep(LEAD_S)
            states = kafka_cluster.snapshot(self._settings)
            leader = kafka_cluster.busiest_leader(states, topic_prefix=self._settings.topic_prefix)
            self._kill("busiest leader", leader)
            time.sleep(SETTLE_S)
            self._kill("active controller", kafka_cluster.active_controller(self._settings))
            time.sleep(SETTLE_S)
            self._roll()
            time.sleep(TAIL_S)
        except BaseException as error:  # reported as a failed invariant, after the load
            self.error = error
        finally:
            self.done.set()

    def _kill(self, what: str, node_id: int) -> None:
        process = self.nodes[node_id]
        self._log(f"SIGKILL {process.name} (node {node_id}, the {what}), {self._down_s:g} s")
        killed_at = time.monotonic()
        supervisor.kill(process)
        time.sleep(self._down_s)
        started_at = time.monotonic()
        supervisor.start(process)
        ready_at = time.monotonic()
        _wait_back(self._settings)
        kill = BrokerKill(what, node_id, killed_at, started_at, ready_at, time.monotonic())
        self.kills.append(kill)
        self._log(
            f"  {process.name} answering {ready_at - started_at:.1f} s after its start, "
            f"in sync {kill.in_sync_at - ready_at:.1f} s later"
        )

    def _roll(self) -> None:
        self._log("rolling restart: each broker stopped (SIGTERM), started, back in sync")
        started_at = time.monotonic()
        steps = [self._restart(node_id, process) for node_id, process in self.nodes.items()]
        self.rolling = RollingRestart(started_at, time.monotonic(), tuple(steps))

    def _restart(self, node_id: int, process: ServiceProcess) -> RollStep:
        stop_at = time.monotonic()
        supervisor.stop(process)
        exited_at = time.monotonic()
        supervisor.start(process)
        ready_at = time.monotonic()
        kafka_cluster.wait_in_sync(self._settings)
        in_sync_at = time.monotonic()
        time.sleep(WARM_S)
        moving_at = time.monotonic()
        moved = _lead_again(self._settings)
        step = RollStep(
            node_id, stop_at, exited_at, ready_at, in_sync_at, moving_at, time.monotonic()
        )
        self._log(
            f"  {process.name}: exited {exited_at - stop_at:.1f} s after SIGTERM, answering "
            f"{ready_at - exited_at:.1f} s after its start, in sync {in_sync_at - ready_at:.1f}"
            f" s later; {moved} leaderships moved back in {step.leading_at - moving_at:.1f} s"
        )
        # The clients follow the leaders moved back before the next broker moves more:
        # two moves within a second stalled every partition past the reply deadline.
        time.sleep(SETTLE_S)
        return step


def _wait_back(settings: Settings) -> None:
    kafka_cluster.wait_in_sync(settings)
    time.sleep(WARM_S)
    _lead_again(settings)


def _lead_again(settings: Settings) -> int:
    """Move every leadership back to its preferred broker, one at a time; wait until done."""
    moved = kafka_cluster.restore_preferred_leaders(settings, pause_s=LEADER_MOVE_PAUSE_S)
    kafka_cluster.wait_led_by_preferred(settings)
    return moved
