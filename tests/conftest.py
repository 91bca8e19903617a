"""The whole suite's pytest set-up: how `make test`'s two workers share the tests.

pytest-xdist's own ``--dist loadgroup`` renames grouped items through an attribute pytest 9
no longer reads, so its groups fall apart (both workers started the demo). This scheduler
does the same from the test ids alone: every test of the modules on the shared running demo
is one unit, the largest, so one worker takes it first; every other test is a unit of its
own. tests/integration/conftest.py checks that no other module uses the demo.
"""

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

#: The modules whose tests share the running demo (the ``demo`` fixture).
DEMO_MODULES = frozenset(
    f"tests/integration/{name}.py"
    for name in ("test_loop", "test_browser", "test_legacy_metrics", "test_prometheus")
)


class DemoGroupScheduling(LoadScopeScheduling):
    """Load scheduling, but the demo's tests all go to one worker, in one go."""

    def _split_scope(self, nodeid: str) -> str:
        return "demo" if nodeid.split("::", 1)[0] in DEMO_MODULES else nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> DemoGroupScheduling:
    return DemoGroupScheduling(config, log)
