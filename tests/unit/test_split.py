"""The sticky split, as a pure function."""

import uuid

from pricing.split import BUCKETS, assign_variant, bucket_of, experiment_id_for


def _assign(key: str | None, *, share: float = 0.2, available: bool = True) -> str:
    return assign_variant(
        experiment_id="exp-1",
        key=key,
        request_id=str(uuid.uuid4()),
        candidate_share=share,
        candidate_available=available,
    ).variant


def test_same_key_always_gets_the_same_variant() -> None:
    assert len({_assign("user-42") for _ in range(50)}) == 1


def test_distinct_keys_split_at_the_configured_share() -> None:
    variants = [_assign(f"user-{i}") for i in range(20_000)]
    share = variants.count("candidate") / len(variants)
    assert abs(share - 0.2) < 0.01


def test_share_zero_and_no_candidate_send_everything_to_prod() -> None:
    assert {_assign(f"k{i}", share=0.0) for i in range(500)} == {"prod"}
    assert {_assign(f"k{i}", available=False) for i in range(500)} == {"prod"}


def test_without_a_key_the_request_id_is_hashed_and_marked_random() -> None:
    result = assign_variant(
        experiment_id="exp-1",
        key=None,
        request_id="r-1",
        candidate_share=0.5,
        candidate_available=True,
    )
    assert result.assignment == "random"
    assert result.bucket == bucket_of("exp-1", "r-1")


def test_another_experiment_redraws_the_split() -> None:
    same = sum(bucket_of("exp-1", f"k{i}") == bucket_of("exp-2", f"k{i}") for i in range(1000))
    assert same < 10
    assert 0 <= bucket_of("exp-1", "k") < BUCKETS


def test_experiment_id_follows_the_candidate() -> None:
    assert experiment_id_for("exp", "m-2") == "exp:m-2"
    assert experiment_id_for("exp", None) == "exp:prod-only"
