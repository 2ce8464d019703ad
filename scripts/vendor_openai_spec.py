"""Vendor the part of OpenAI's published API description the conformance test reads.

    functions/venv/bin/python scripts/vendor_openai_spec.py [--source openapi.json] [--commit SHA] [--date ISO]

CI reaches no network beyond the package registries, so the description lives
in the repository: ``tests/openai_spec/openapi.subset.json`` holds, verbatim,
the component schemas reachable (through ``$ref``) from :data:`ROOTS`, the
request and response schemas of the endpoints the gateway serves, with the
source's provenance under ``x-provenance``. ``PROVENANCE.md`` and ``LICENSE``
(MIT, OpenAI's) sit beside it. Without ``--source`` the file is read from a
local bare clone of github.com/openai/openai-openapi (``--mirror``) at
``--commit`` (default: its HEAD). ``tests/test_openai_conformance.py`` checks
the recorded provenance and, when the source is at hand, that this script
still writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "openai_spec"
SUBSET = OUT / "openapi.subset.json"
REPO_URL = "https://github.com/openai/openai-openapi"
MIRROR = Path("/work/.mirror/openai+openai-openapi/repo")
PREFIX = "#/components/schemas/"

ROOTS = (
    # chat completions, models, errors
    "CreateChatCompletionRequest", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse",
    "ListModelsResponse", "Model", "ErrorResponse",
    # the Responses API, embeddings and images
    "CreateResponse", "Response", "ResponseStreamEvent",
    "CreateEmbeddingRequest", "CreateEmbeddingResponse",
    "CreateImageRequest", "ImagesResponse",
)
"""The schemas the gateway's OpenAI-compatible endpoints are checked against; everything they reference comes along."""


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` (and ``$recursiveRef``) target in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$recursiveRef") and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def reachable(schemas: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> set[str]:
    """The names of ``roots`` and of every component schema they reach."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(ref[len(PREFIX):] for ref in refs(schemas[name]) if ref.startswith(PREFIX))
    return seen


def subset(source: bytes, provenance: dict[str, Any]) -> dict[str, Any]:
    """The document the test reads: the reachable schemas verbatim, under the source's ``openapi`` and ``info``."""
    spec = json.loads(source)
    schemas = spec["components"]["schemas"]
    kept = {name: schemas[name] for name in sorted(reachable(schemas))}
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-provenance": {**provenance, "roots": list(ROOTS)},
        "components": {"schemas": kept},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


PROVENANCE_TEXT = """\
# OpenAI API description (vendored subset)

`openapi.subset.json` is a subset of OpenAI's published API description:

- repository: {repo}
- commit: `{commit}` ({date})
- file: `openapi.json`, sha256 `{sha256}`
- kept, unmodified: the {count} component schemas reachable (`$ref`) from
  {roots}

These facts are also recorded in the file's `x-provenance`.

The source is © OpenAI, under the MIT License (`LICENSE`, copied from the same
commit). `tests/test_openai_conformance.py` reads the subset: requests generated
from `CreateChatCompletionRequest` must be accepted, and every answer must
validate against the response schemas.

To refresh (a newer commit of the description):

    git clone --bare {repo} /tmp/openai-openapi
    functions/venv/bin/python scripts/vendor_openai_spec.py --mirror /tmp/openai-openapi [--commit SHA]

or, from a downloaded `openapi.json` and its commit:

    functions/venv/bin/python scripts/vendor_openai_spec.py --source openapi.json --commit SHA --date 2026-08-21T20:48:10Z

then run the conformance test and update the note on the pinned commit in docs/openai.md.
"""


def _git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(mirror), *args], check=True, capture_output=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="an openapi.json read instead of the mirror (give --commit and --date)")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="a bare clone of openai/openai-openapi")
    parser.add_argument("--commit", help="the commit of the description (default: the mirror's HEAD)")
    parser.add_argument("--date", help="the commit's date, ISO 8601 (default: read from the mirror)")
    args = parser.parse_args()
    if args.source:
        if not (args.commit and args.date):
            parser.error("--source needs --commit and --date")
        source, license_text = args.source.read_bytes(), (args.source.parent / "LICENSE").read_bytes()
        commit, date = args.commit, args.date
    else:
        commit = args.commit or _git(args.mirror, "rev-parse", "HEAD").decode().strip()
        date = args.date or _git(args.mirror, "show", "-s", "--format=%aI", commit).decode().strip()
        source, license_text = _git(args.mirror, "show", f"{commit}:openapi.json"), _git(args.mirror, "show", f"{commit}:LICENSE")
    provenance = {
        "repository": REPO_URL, "commit": commit, "date": date, "file": "openapi.json",
        "sha256": hashlib.sha256(source).hexdigest(), "license": "MIT", "script": "scripts/vendor_openai_spec.py",
    }
    document = subset(source, provenance)
    OUT.mkdir(parents=True, exist_ok=True)
    SUBSET.write_text(render(document), encoding="utf-8")
    (OUT / "LICENSE").write_bytes(license_text)
    roots = ", ".join(f"`{name}`" for name in ROOTS)
    text = PROVENANCE_TEXT.format(repo=REPO_URL, commit=commit, date=date, sha256=provenance["sha256"],
                                  count=len(document["components"]["schemas"]), roots=roots)
    (OUT / "PROVENANCE.md").write_text(text, encoding="utf-8")
    print(f"wrote {SUBSET.relative_to(ROOT)}: {len(document['components']['schemas'])} schemas from {commit[:12]}")


if __name__ == "__main__":
    main()
