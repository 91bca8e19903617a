"""The sink's engine configuration is what chDB runs with (one engine per process, so the
check opens chDB in a process of its own, as the sink does)."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from plumbing.chdb_access import write_access_config
from plumbing.settings import PROJECT_ROOT

OPEN_AND_READ = """
import json, sys
from pathlib import Path
from plumbing.clickhouse import ChdbClickHouse
folder, config = Path(sys.argv[1]), Path(sys.argv[2])
engine = ChdbClickHouse(str(folder / "chdb"), "splitstream", access_config=config)
rows = engine.query_json("SELECT name, value FROM system.server_settings")["data"]
print(json.dumps(dict(rows)))
"""


def test_chdb_runs_with_the_server_settings_of_the_sink_config(tmp_path: Path) -> None:
    # Given the configuration the sink writes for its engine
    config = write_access_config(tmp_path / "access", "splitstream")
    declared = {
        element.tag: element.text
        for element in ET.parse(config).getroot()  # noqa: S314 (the file written just above)
        if element.text and element.text.strip()
    }
    assert declared, "the config declares no server setting"

    # When chDB starts from it in a fresh process
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_READ, str(tmp_path), str(config)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    running = json.loads(done.stdout.strip().splitlines()[-1])

    # Then every server setting it declares is in force
    assert {name: running.get(name) for name in declared} == declared
