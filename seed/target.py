"""Where a seed script writes: the running local stack, or a real project named explicitly.

Without ``--project`` the script talks to the emulators: their hosts come from
the environment, or from ``.stack/env.json`` that ``make dev`` writes. With
``--project ID`` it talks to that real project with Application Default
Credentials (``gcloud auth application-default login``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", help="a real Firebase project id (default: the local emulators)")


def select(project: str | None) -> str:
    """Point the Admin SDK at the emulators or at ``project``; returns a description."""
    emulator_vars = ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")
    if project:
        for var in (*emulator_vars, "FIREBASE_STORAGE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
            os.environ.pop(var, None)
        os.environ["GOOGLE_CLOUD_PROJECT"] = os.environ["GCLOUD_PROJECT"] = project
        return f"project {project}"
    if not all(os.environ.get(v) for v in emulator_vars):
        state = ROOT / ".stack" / "env.json"
        if not state.is_file():
            sys.exit("No emulators found: start them with `make dev`, or pass --project ID for a real project.")
        os.environ.update(json.loads(state.read_text()))
    return f"emulators (Firestore {os.environ['FIRESTORE_EMULATOR_HOST']}, Auth {os.environ['FIREBASE_AUTH_EMULATOR_HOST']})"
