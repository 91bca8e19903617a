"""Failpoints: armed by name from the settings, and a SIGKILL of the process when reached."""

import signal
import subprocess
import sys

from cli.settings import load_settings
from plumbing.failpoints import armed, failpoint
from plumbing.settings import PROJECT_ROOT

REACH = "from plumbing.failpoints import failpoint; from cli.settings import load_settings; "


def test_failpoints_are_read_as_a_comma_separated_list() -> None:
    settings = load_settings(failpoints=" a.b ,c.d,, ")
    assert armed(settings) == {"a.b", "c.d"}
    assert armed(load_settings()) == frozenset()


def test_an_unarmed_failpoint_does_nothing() -> None:
    failpoint(load_settings(failpoints="other.point"), "promoter.after_routing_write")


def test_an_armed_failpoint_kills_the_process_with_sigkill_after_logging_it() -> None:
    code = REACH + "failpoint(load_settings(), 'here'); print('survived')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"SPLITSTREAM_FAILPOINTS": "elsewhere,here", "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL
    assert "survived" not in done.stdout
    assert "failpoint here: SIGKILL" in done.stderr
