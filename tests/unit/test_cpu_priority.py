"""Background services lower their own CPU priority (in a child process: it cannot be undone)."""

import subprocess
import sys

import pytest

SCRIPT = (
    "import os; from plumbing.cpu_priority import yield_to_request_path; "
    "before = os.nice(0); yield_to_request_path({n}); print(before, os.nice(0))"
)


@pytest.mark.parametrize(("niceness", "added"), [(10, 10), (3, 3), (0, 0)])
def test_yield_to_request_path_adds_the_niceness_to_the_process(niceness: int, added: int) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(n=niceness)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = map(int, run.stdout.split())
    assert before + added <= 19, "this test needs a process that is not already that nice"
    assert after == before + added
