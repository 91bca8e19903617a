"""Everything one bench run found, filled in measurement by measurement."""

from dataclasses import dataclass, field

from bench.cpu_budget import CpuBudget
from bench.overload import OverloadFindings
from bench.restart import RestartFindings
from bench.results import RatePoint


@dataclass
class LoadFindings:
    """An HTTP or Kafka request-reply path under open-loop load."""

    #: By rate: the fixed rates first, then the search's steps.
    points: dict[float, RatePoint] = field(default_factory=dict)
    #: Highest rate with p99 under the bound and no errors (0: none held).
    max_sustained_per_s: float | None = None


@dataclass
class Findings:
    """The run's results; a measurement that failed or did not run stays None or empty."""

    load_tool: str = ""
    #: Gateway, predictors and scorer only; by endpoint ("v1", "legacy").
    request_path: dict[str, LoadFindings] = field(default_factory=dict)
    #: Every service ``splitstream up`` starts; by endpoint.
    full_system: dict[str, LoadFindings] = field(default_factory=dict)
    #: The full system on /v1 with more gateway processes (SO_REUSEPORT), by worker count.
    full_system_workers: dict[int, LoadFindings] = field(default_factory=dict)
    cpu: CpuBudget | None = None
    overload: OverloadFindings | None = None
    #: The Faust agent's catch-up and restarts on a long history (bench.restart).
    restart: RestartFindings | None = None
    direct: LoadFindings | None = None
    floor: LoadFindings | None = None
    #: Floor: most replies per second, with the requester sending as fast as it can.
    floor_max_throughput_per_s: float | None = None
    batch_rows: int | None = None
    batch_rows_per_s: float | None = None
    floor_consume_produce_per_s: float | None = None
    #: Service name -> requests served so far -> VmRSS in kB.
    rss_kb: dict[str, dict[int, int]] = field(default_factory=dict)
    promotion_ack_s: float | None = None
    #: The operator's view: send_command until the promoter's answer.
    promotion_round_trip_s: float | None = None
    memory_errors: int | None = None
    #: Measurement -> why it is missing.
    failures: dict[str, str] = field(default_factory=dict)
