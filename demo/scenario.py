"""The demo: bootstrap a best and a candidate model, then drive held-out traffic through it.

Every check here goes through the public interfaces a user has: HTTP on the gateway
and Kafka topics for batch scoring.
"""

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from cli.settings import Settings
from clients.promoter_commands import send_command
from clients.scorer import score_requests
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from schemas.serving_events import ScoreRequest
from stack import kafka_access
from trainer.cleaning import clean
from trainer.data import load_raw
from trainer.dataset import split_dataset
from trainer.main import TrainResult, train_and_publish

README_REQUEST = {"location": "1st Block Jayanagar", "total_sqft": 1000, "bath": 2, "bhk": 2}
READY_TIMEOUT_S = 180.0


def bootstrap_models(settings: Settings, console: Console) -> None:
    """Start every run from a deliberately weak best and a better candidate.

    A state folder from an earlier run holds the better model as best and maybe a
    candidate still under experiment: that candidate is rejected and any unfinished watch
    rolled back (by the operator "demo", through the promoter, so the ledger says so),
    then the weak model becomes best again (unless it already is: the trainer publishes
    only a change) and the grid search's winner the candidate.
    """
    _clear_leftovers(settings, console)
    console.print("training a deliberately weak best model …")
    # The gate is relaxed for it: it is meant to be worse than the best of an earlier run.
    weak = settings.model_copy(update={"train_r2_floor": -1.0, "train_max_mae_regression": 1e9})
    _report(console, train_and_publish(weak, target_slot="best", algorithms=("weak",)))
    console.print("training a candidate (cross-validated grid search) …")
    _report(console, train_and_publish(settings, target_slot="candidate"))


def train_best_and_candidate(settings: Settings) -> None:
    """A lasso best and a ridge candidate in the run's bucket, its topics created."""
    s3 = s3_client(settings)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # local.up made it
        s3.create_bucket(Bucket=settings.s3_bucket)
    kafka_access.provision(settings)
    train_and_publish(settings, target_slot="best", algorithms=("lasso",))
    train_and_publish(settings, target_slot="candidate", algorithms=("ridge",))


def _clear_leftovers(settings: Settings, console: Console) -> None:
    current = SlotStore(s3_client(settings), settings.s3_bucket).read()
    if current is None:
        return
    if current.slots.holdback is not None:
        _command(settings, console, "rollback", "demo: end the watch an earlier run left")
    elif current.slots.candidate is not None:
        _command(settings, console, "reject", "demo: start again from a weak best model")


def _command(
    settings: Settings, console: Console, action: Literal["rollback", "reject"], reason: str
) -> None:
    answer = send_command(settings, action=action, operator="demo", reason=reason)
    console.print(f"  operator {action}: {answer.outcome} ({answer.message})")


def _report(console: Console, result: TrainResult) -> None:
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(result.metrics.items()))
    if result.published:
        where = f"published {result.version} to {result.slot}"
    else:
        where = f"not published (exit {result.exit_code})"
    console.print(f"  {result.algorithm}: {metrics}; {where}: {result.gate.reason}")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]


def http_json(method: str, url: str, body: Any = None, *, form: bool = False) -> HttpAnswer:
    """One HTTP call with a JSON (or form) body; any status is an answer, not an error."""
    headers = {"content-type": "application/x-www-form-urlencoded" if form else "application/json"}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return HttpAnswer(resp.status, json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as error:
        with error:
            return HttpAnswer(error.code, json.loads(error.read() or b"{}"))


def wait_until_serving(settings: Settings, *, candidate: bool) -> None:
    """Wait until both variants (or prod alone) answer a prediction through the gateway.

    /readyz says the gateway is ready; a new predictor may still be joining its
    consumer group, so only an answered request shows that the whole path serves.
    """
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    wanted = {"prod", "candidate"} if candidate else {"prod"}
    answered: set[str] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    attempt = 0
    while time.monotonic() < deadline and answered != wanted:
        attempt += 1
        answer = http_json(
            "POST", f"{base}/v1/predict", {**README_REQUEST, "key": f"warm-{attempt}"}
        )
        if answer.status == 200:
            answered.add(answer.body["variant"])
        else:
            time.sleep(0.5)
    if answered != wanted:
        raise TimeoutError(
            f"{base}: {sorted(wanted - answered)} not answering after {READY_TIMEOUT_S:.0f} s"
        )


def run_scenario(settings: Settings, console: Console, *, requests: int = 300) -> bool:
    """Drive held-out rows through HTTP and batch scoring; print and return whether all held."""
    wait_until_serving(settings, candidate=True)
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    checks: list[tuple[str, bool, str]] = []

    first = http_json("POST", f"{base}/v1/predict", README_REQUEST)
    price = first.body.get("price_lakhs")
    checks.append(("README curl", first.status == 200 and (price or 0) > 0, f"{price} lakhs"))

    split = held_out(settings)
    statuses, variants, feedback = _drive_http(base, split, requests)
    checks.append(("HTTP predictions", statuses == Counter({200: requests}), str(dict(statuses))))
    checks.append(
        ("both variants served", set(variants) == {"prod", "candidate"}, str(dict(variants)))
    )
    answered = statuses[200]
    checks.append(("feedback accepted", feedback == Counter({202: answered}), str(dict(feedback))))

    legacy = http_json("POST", f"{base}/api/predict_home_price", _legacy_form(), form=True)
    checks.append(("old /api form", legacy.status == 200, str(legacy.body.get("estimated_price"))))

    batch = settings.with_default_kafka_role("batch")  # as a batch-scoring team would
    _results, report = score_requests(batch, _score_rows(split, 500), timeout_s=120)
    scored_ok = report.received == 500 and not report.missing and report.duplicates == 0
    checks.append(
        ("batch scoring", scored_ok, f"{report.received}/500, {report.rows_per_s:.0f} rows/s")
    )
    return _print_checks(console, checks)


def held_out(settings: Settings) -> Any:
    cleaned = clean(load_raw(settings).frame())
    return split_dataset(cleaned, test_size=settings.train_test_size, seed=settings.train_seed)


def _drive_http(
    base: str, split: Any, count: int
) -> tuple[Counter[int], Counter[str], Counter[int]]:
    statuses: Counter[int] = Counter()
    variants: Counter[str] = Counter()
    feedback: Counter[int] = Counter()
    for i, (row, actual) in enumerate(
        zip(split.rows_test[:count], split.y_test[:count], strict=True)
    ):
        body = {**row._asdict(), "key": f"demo-user-{i}"}
        answer = http_json("POST", f"{base}/v1/predict", body)
        statuses[answer.status] += 1
        if answer.status != 200:
            continue
        variants[answer.body["variant"]] += 1
        sent = {"request_id": answer.body["request_id"], "actual_price_lakhs": float(actual)}
        feedback[http_json("POST", f"{base}/v1/feedback", sent).status] += 1
    return statuses, variants, feedback


def _legacy_form() -> dict[str, str]:
    return {"total_sqft": "1000", "location": "1st Block Jayanagar", "bhk": "2", "bath": "2"}


def _score_rows(split: Any, count: int) -> list[ScoreRequest]:
    return [
        ScoreRequest.model_validate({"id": f"demo-{i}", **row._asdict(), "key": f"demo-user-{i}"})
        for i, row in enumerate(split.rows_test[:count])
    ]


def _print_checks(console: Console, checks: list[tuple[str, bool, str]]) -> bool:
    table = Table("check", "result", "detail")
    for name, ok, detail in checks:
        table.add_row(name, "[green]ok[/green]" if ok else "[red]FAILED[/red]", detail)
    console.print(table)
    return all(ok for _, ok, _ in checks)
