"""The promotion policy: the thresholds of every decision, read from a TOML file.

``promoter/decide.py`` applies it; ``promoter/policy.toml`` states the defaults with the
reasoning behind each. A policy file may leave out any field (the default applies) but
may not name an unknown one. The thresholds the report and the dashboard show as well
(the SRM alpha, a large PSI) default to ``analysis/thresholds.py``, defined once there.
"""

import itertools
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.thresholds import PSI_LARGE, SRM_ALPHA
from promoter.errors import PolicyError

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.toml")


class Policy(BaseModel):
    """Thresholds of the promotion decision; see promoter/policy.toml for the reasoning."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["quality", "volume"] = Field(
        "quality",
        description="quality: decide on MAE from feedback; volume: promote on request count "
        "alone (the old stack's rule).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Chance that the MAE confidence sequence ever misleads."
    )
    srm_p_threshold: float = Field(
        SRM_ALPHA,
        gt=0,
        lt=1,
        description="The split test's anytime-valid p-value (1 / its e-value) below this "
        "blocks every decision.",
    )
    srm_prior_concentration: float = Field(
        1000.0,
        gt=0,
        description="Concentration of the split test's beta mixture: larger looks for "
        "smaller deviations from the planned share.",
    )
    min_requests_per_variant: int = Field(
        200, ge=1, description="Requests each variant needs before guardrails or quality count."
    )
    min_feedback_per_variant: int = Field(
        100,
        ge=2,
        description="Feedback events per variant (or pairs, when paired) before the MAE "
        "comparison may decide; protects the variance estimate from heavy tails.",
    )
    cs_target_feedback: int = Field(
        20_000,
        ge=1,
        description="Total feedback (both arms) at which the unpaired interval is tightest.",
    )
    cs_target_pairs: int = Field(
        1_000, ge=1, description="Number of pairs at which the paired interval is tightest."
    )
    max_duration_hours: float = Field(
        336.0, gt=0, description="An experiment undecided after this long is rejected."
    )
    trigger_requests: int = Field(
        100, ge=1, description="Volume mode: candidate requests in the window that promote."
    )
    trigger_window_hours: float = Field(
        24.0, gt=0, description="Volume mode: the window the trigger counts over."
    )
    guardrail_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Chance that a guardrail ever breaches while the candidate is within "
        "its margin, however often it is checked.",
    )
    guardrail_target_requests: int = Field(
        10_000,
        ge=1,
        description="Requests (both arms) at which the guardrails' sequences are tightest.",
    )
    error_rate_margin: float = Field(
        0.01, ge=0, le=1, description="Allowed excess of the candidate's error rate (absolute)."
    )
    p95_latency_margin: float = Field(
        0.25, ge=0, description="Allowed excess of the candidate's p95 latency (relative)."
    )
    p95_latency_margin_ms: float = Field(
        50.0,
        ge=0,
        description="Allowed excess of the candidate's p95 latency (absolute, ms); a breach "
        "needs both margins exceeded.",
    )
    holdback_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="After a promotion, the previous best keeps this share of traffic for "
        "the watch; 0 turns the concurrent watch off.",
    )
    watch_min_feedback: int = Field(
        100, ge=2, description="Feedback per version (or pairs) before the watch judges MAE."
    )
    watch_max_hours: float = Field(
        24.0, gt=0, description="The watch after a promotion lasts at most this long."
    )
    ramp_steps: tuple[float, ...] = Field(
        (),
        description="Candidate shares an experiment steps through (e.g. [0.05, 0.2, 0.5]); "
        "empty: the share stays as an operator set it.",
    )
    ramp_step_min_hours: float = Field(
        1.0, ge=0, description="A ramp step lasts at least this long with guardrails holding."
    )
    share_settle_s: float = Field(
        10.0,
        ge=0,
        description="Requests this soon after a share change are left out of the split "
        "test: gateways take up a new share within seconds, not at once.",
    )
    prefer_paired: bool = Field(
        True, description="Use shadow-scored paired differences whenever they are present."
    )
    drift_psi_threshold: float = Field(
        PSI_LARGE,
        gt=0,
        description="A feature whose PSI in the last complete hour passes this raises an "
        "experiment.alert of kind drift.",
    )
    drift_min_requests: int = Field(
        200, ge=1, description="Requests an hour needs before its PSI is judged."
    )

    @field_validator("ramp_steps")
    @classmethod
    def _increasing_shares(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < step <= 1 for step in steps):
            raise ValueError(f"every ramp step must be a share in (0, 1], got {list(steps)}")
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ValueError(f"ramp steps must increase, got {list(steps)}")
        return steps

    def next_ramp_step(self, share: float) -> float | None:
        """The first ramp step above ``share``, or None when the ramp is over (or off)."""
        return next((step for step in self.ramp_steps if step > share + 1e-9), None)


def load_policy(path: Path | str | None = None) -> Policy:
    """Read a policy TOML file (promoter/policy.toml by default).

    Raises:
        PolicyError: naming the file and what is wrong with it.
    """
    policy_path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        with policy_path.open("rb") as file:
            return Policy.model_validate(tomllib.load(file))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors()
        )
        raise PolicyError(f"policy file {policy_path}: {problems}") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"policy file {policy_path}: {error}") from error
