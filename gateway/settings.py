"""The gateway's settings: the shared bases it uses, and the fields only it reads."""

from pydantic import Field, SecretStr

from plumbing.settings import (
    ClickHouseSettings,
    ExperimentSettings,
    GatewayAddressSettings,
    RequestIdSettings,
    S3Settings,
)
from plumbing.settings_kafka import PromoterClientSettings


class GatewaySettings(
    PromoterClientSettings,
    S3Settings,
    ClickHouseSettings,
    ExperimentSettings,
    RequestIdSettings,
    GatewayAddressSettings,
):
    """Everything ``splitstream gateway`` reads."""

    admin_token: SecretStr | None = Field(None, description="Bearer token for admin actions.")
    shadow_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of prod requests also sent to the candidate as shadow copies: "
        "recorded, never returned, and compared pairwise once feedback arrives.",
    )
    gateway_reply_partition: int = Field(
        0, ge=0, description="This gateway's own partition of the replies topic."
    )
    reply_timeout_s: float = Field(2.0, gt=0, description="Deadline for a prediction reply.")
    gateway_routing_refresh_s: float = Field(
        10.0,
        gt=0,
        description="Safety net: re-read the slots and the split this often (any "
        "model.events message makes the gateway re-read them at once).",
    )
    gateway_max_in_flight: int = Field(
        256,
        ge=1,
        description="Predictions one gateway process handles at once; more get 503 and "
        "Retry-After at once (admission control), so an overload cannot sink the rest. "
        "This bound holds while the event loop keeps up (Kafka stalls: a rolling restart at "
        "100 req/s got 503s at 64); gateway_max_in_flight_behind holds while it lags.",
    )
    gateway_max_in_flight_behind: int = Field(
        64,
        ge=1,
        description="The bound on predictions in flight while the gateway is short of CPU "
        "(its process uses more than gateway_busy_cpu_share of a core, or its event loop "
        "runs more than gateway_behind_lag_ms behind) and still serves at least "
        "gateway_behind_min_served_per_s: an overload, where requests accepted past what the "
        "predictors finish make all late, not a Kafka stall, where replies stop and "
        "gateway_max_in_flight rides it out.",
    )
    gateway_busy_cpu_share: float = Field(
        0.3,
        ge=0,
        description="Share of one core (over ~0.2 s) past which the gateway counts as short "
        "of CPU. With 0.3 (and a 5 ms lag) make bench answered every request of its overload. "
        "0: never.",
    )
    gateway_behind_lag_ms: float = Field(
        5.0,
        ge=0,
        description="Lag of the event loop (two ticks in a row) past which the gateway counts "
        "as short of CPU. With 5 alone, make bench's overload at 2,600 req/s still left 3,318 "
        "requests unanswered: the CPU share is the main signal. 0: never.",
    )
    gateway_behind_min_served_per_s: float = Field(
        300.0,
        ge=0,
        description="The lower bound holds only while the gateway serves at least this many "
        "predictions a second (over ~0.5 s): an overload serves at the system's maximum (about "
        "800/s in make bench here), a stall serves none. Without it, a model reload at "
        "200 req/s on a loaded machine got 503s. 0: the CPU signals alone decide.",
    )
    gateway_max_loop_lag_ms: float = Field(
        200.0,
        ge=0,
        description="Refuse predictions with 503 at once while the gateway's event loop runs "
        "this far behind (two ticks in a row): its CPU is short and requests wait unseen in "
        "socket buffers. Measured here: lower bounds refused at normal load on a busy machine. "
        "0: never refuse for lag.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (JSON list); none by default."
    )
    max_body_bytes: int = Field(16_384, description="Largest request body the gateway reads.")
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="Host headers the gateway answers (JSON list; `*.example.com` patterns); "
        "others get 400.",
    )
