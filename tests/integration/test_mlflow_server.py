"""The local MLflow server: runs and registered models, artifacts stored in S3."""

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

from cli.settings import Settings
from plumbing.s3 import s3_client


def test_registered_model_artifact_lands_in_s3(stack: Settings, unique: str) -> None:
    # Given a tiny model logged and registered through the tracking server
    mlflow.set_tracking_uri(stack.mlflow_uri)
    mlflow.set_experiment(f"test-{unique}")
    features = np.arange(20, dtype=float).reshape(10, 2)
    model = LinearRegression().fit(features, features.sum(axis=1))
    name = f"test-model-{unique}"
    with mlflow.start_run() as run:
        mlflow.log_metric("r2", 1.0)
        logged = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, input_example=features[:2]
        )

    # Then the registry knows the version and its files are objects in the bucket
    version = MlflowClient(stack.mlflow_uri).get_model_version(name, "1")
    assert version.run_id == run.info.run_id
    assert logged.model_id and logged.model_id in version.source
    s3 = s3_client(stack)
    listing = s3.list_objects_v2(Bucket=stack.s3_bucket, Prefix=f"{stack.mlflow_artifact_prefix}/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    model_keys = [key for key in keys if f"/{logged.model_id}/" in key]
    names = {key.rsplit("/", 1)[-1] for key in model_keys}
    assert {"MLmodel", "input_example.json"} <= names, keys
    assert names & {"model.skops", "model.pkl"}, keys
    mlmodel_key = next(key for key in model_keys if key.endswith("/MLmodel"))
    mlmodel = s3.get_object(Bucket=stack.s3_bucket, Key=mlmodel_key)["Body"].read().decode()
    assert "sklearn" in mlmodel and run.info.run_id in mlmodel
