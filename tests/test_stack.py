"""scripts/stack.py itself: a stack whose firebase process crashed still stops everything it started.

Runs its own small stack (Firestore only) in a child process, so its pid-named
files never meet the session's stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CRASH = """
import json, os, signal, sys, time
sys.path.insert(0, "scripts")
import stack

running = stack.Stack(fresh_ports=True, emulators=("firestore",))
running.start()
firebase = running.process.pid
java = [pid for pid in stack.descendants(firebase) if b"firestore-launcher.jar" in (stack.cmdline(pid) or b"")]
os.kill(firebase, signal.SIGKILL)  # firebase crashes; its detached Java emulator lives on, reparented
running.process.wait()
time.sleep(0.5)
orphaned = [pid for pid in java if pid not in stack.descendants(firebase) and stack.cmdline(pid) is not None]
running.stop()
print(json.dumps({"java": java, "orphaned": orphaned, "tmpdir": str(running.tmpdir), "config": str(running.config_path)}))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_after_firebase_crashed_kills_its_java_emulators() -> None:
    out = subprocess.run([sys.executable, "-c", CRASH], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["java"], "the Firestore emulator (java) was not found under firebase"
    assert seen["orphaned"] == seen["java"], "the crash did not orphan the Java emulator: the test proves nothing"
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in seen["java"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in seen["java"] if _alive(pid)]
    for pid in survivors:  # do not leave them running when the assertion below fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "stop() left the crashed stack's Java emulator running"
    assert not Path(seen["tmpdir"]).exists() and not Path(seen["config"]).exists()
