"""Files generated from the code (the client's types, the OpenAPI document): write them, or check them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path, render: Callable[[], str], script: str, doc: str | None) -> None:
    """``script`` writes ``out`` from ``render()``; with ``--check`` it exits 1 when the committed file differs."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when the committed file differs")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = out.read_text() if out.is_file() else ""
        if current != text:
            sys.exit(f"{out.relative_to(ROOT)} is out of date: run functions/venv/bin/python {script}")
        return
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"wrote {out.relative_to(ROOT)}")
