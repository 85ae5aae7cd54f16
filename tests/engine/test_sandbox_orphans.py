"""A sandbox process dies with the worker that started it, even when that worker is killed outright."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from labeling.engine.sandbox import run_code_lf
    print("started", flush=True)
    run_code_lf("def lf(x):\\n    while True:\\n        pass\\n", [{"text": "a"}], ["A", "B"], timeout_s=120)
    """
)


def _children_of_marker(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_a_killed_worker_leaves_no_sandbox_process_behind(tmp_path):
    # A unique memory figure marks this test's sandbox processes on the command line.
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT.replace("timeout_s=120", "timeout_s=120, memory_mb=777"))
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, str(script), str(REPO)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while not _children_of_marker("sandbox_child.py 777") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _children_of_marker("sandbox_child.py 777"), "the sandbox process did not start"
    time.sleep(2)  # let it get into the user's loop
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    while _children_of_marker("sandbox_child.py 777") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _children_of_marker("sandbox_child.py 777") == []
