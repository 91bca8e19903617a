"""The read side's thresholds, defined once: the report, the dashboard and the promoter's
policy (its defaults) all take them from here."""

from typing import Literal

#: A sample-ratio mismatch below this p-value blocks every decision (DESIGN.md).
SRM_ALPHA = 0.001
#: PSI rule of thumb: below 0.1 stable, up to 0.25 moderate, above that a large shift.
PSI_MODERATE = 0.1
PSI_LARGE = 0.25
#: The two variants an experiment compares, in the order they are shown.
VARIANTS = ("prod", "candidate")

PsiLevel = Literal["stable", "moderate", "large"]


def srm_mismatch(p_value: float | None) -> bool:
    """The split is broken when p < ``SRM_ALPHA``; no p-value (no split to test) never is."""
    return p_value is not None and p_value < SRM_ALPHA


def psi_level(psi: float) -> PsiLevel:
    """The rule of thumb's name for a PSI."""
    if psi > PSI_LARGE:
        return "large"
    return "moderate" if psi >= PSI_MODERATE else "stable"


def variant_rank(variant: str) -> int:
    """Sort key: prod first, then the candidate, then anything else."""
    return VARIANTS.index(variant) if variant in VARIANTS else 9
