"""Write the gateway's OpenAPI 3.1 description from its code.

    functions/venv/bin/python scripts/openapi.py          write docs/openapi.json
    functions/venv/bin/python scripts/openapi.py --check  exit 1 if the file is out of date

The document is what every function serves at ``GET <function>/openapi.json``:
``functions/gateway/openapi.py`` assembles it from each function module's
``API`` (next to its ``ROUTES``) and the pydantic models the routes validate
with. ``tests/test_openapi.py`` fails while the committed file differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import generated

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "openapi.json"


def render() -> str:
    sys.path.insert(0, str(ROOT / "functions"))
    from gateway import openapi

    return openapi.render(openapi.build())


if __name__ == "__main__":
    generated.main(OUT, render, "scripts/openapi.py", __doc__)
