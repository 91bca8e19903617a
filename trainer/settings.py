"""The trainer's settings: the shared bases it uses, and the fields only it reads."""

from pathlib import Path

from pydantic import Field, SecretStr

from plumbing.settings import (
    PROJECT_ROOT,
    MlflowSettings,
    ModelVerifySettings,
    NicenessSettings,
    S3Settings,
)
from plumbing.settings_kafka import KafkaSettings


class TrainerSettings(
    KafkaSettings, S3Settings, MlflowSettings, ModelVerifySettings, NicenessSettings
):
    """Everything ``splitstream trainer`` reads."""

    model_signing_key: SecretStr | None = Field(
        None,
        description="Trainer only: Ed25519 private key (base64 of the raw 32 bytes) that "
        "signs model manifests (local.env).",
    )
    data_path: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data" / "bengaluru_house_prices.csv",
        description="Local copy of the data set; downloaded when missing.",
    )
    data_url: str = Field(
        "https://raw.githubusercontent.com/codebasics/py/"
        "801ee0ee4d342fd22b89915dc0c4864250a0ec10/"
        "DataScience/BangloreHomePrices/model/bengaluru_house_prices.csv",
        description="Public source of the data set.",
    )
    data_sha256: str = Field(
        "23ddf71be7d79a259b62e125b9d56cb531f9d051b0da650c0fe7cc82365a1015",
        description="Expected sha256 of the data set.",
    )
    train_test_size: float = Field(0.2, description="Share of rows held out for testing.")
    train_seed: int = Field(42, description="Seed of the split and of every model.")
    train_r2_floor: float = Field(0.6, description="A model below this test R² is not published.")
    train_max_mae_regression: float = Field(
        0.05, description="Refuse a model whose test MAE is worse than best's by more (ratio)."
    )
    train_cron: str = Field("0 3 * * 1", description="When `splitstream trainer` trains (cron).")
