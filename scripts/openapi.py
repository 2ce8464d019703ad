"""Write the gateway's OpenAPI 3.1 description from its code.

    functions/venv/bin/python scripts/openapi.py          write docs/openapi.json
    functions/venv/bin/python scripts/openapi.py --check  exit 1 if the file is out of date

The document is what every function serves at ``GET <function>/openapi.json``:
``functions/gateway/openapi.py`` assembles it from each function module's
``API`` (next to its ``ROUTES``) and the pydantic models the routes validate
with. ``tests/test_openapi.py`` fails while the committed file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "openapi.json"


def render() -> str:
    sys.path.insert(0, str(ROOT / "functions"))
    from gateway import openapi

    return openapi.render(openapi.build())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when the committed file differs")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.is_file() else ""
        if current != text:
            sys.exit(f"{OUT.relative_to(ROOT)} is out of date: run functions/venv/bin/python scripts/openapi.py")
        return
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
