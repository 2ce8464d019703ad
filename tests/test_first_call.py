"""The README's first call works as printed: its shell and Python blocks, run against a stack seeded as ``make dev`` seeds.

The blocks are taken from README.md's "The first call" section at test time,
so an edit that breaks them fails here. Only the ports change: the README
shows ``make dev``'s defaults, this run's emulators listen on free ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / "functions" / "venv" / "bin" / "python"


def _blocks(language: str, heading: str = "## The first call") -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) : text.index("\n## ", text.index(heading) + 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.fixture
def dev_seed(emulators, clean):
    """The demo provider, its models, the demo accounts and organisations, as ``make dev`` starts them."""
    sys.path.insert(0, str(ROOT))
    from gateway.registry import registry
    from seed import demo_orgs, demo_provider, demo_users, load

    load.load_all(actor="seed")
    demo = demo_provider.start()
    try:
        demo_provider.register(demo.url)
        demo_users.create_all()
        demo_orgs.create_all(demo.url)
        registry().invalidate()
        yield demo
    finally:
        demo.__exit__(None, None, None)


def _local(block: str, emulators) -> str:
    return block.replace("127.0.0.1:9099", emulators.stack.host("auth")).replace("127.0.0.1:5001", emulators.stack.host("functions"))


def test_the_readme_first_call_answers_from_the_demo_provider(dev_seed, emulators) -> None:
    from seed.demo_provider import REPLY

    sign_in_and_list, generate = (_local(b, emulators) for b in _blocks("bash"))
    script = f"set -euo pipefail\n{sign_in_and_list}\necho\necho \"TOKEN=$TOKEN\"\n{generate}\n"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=True).stdout
    models_line, token_line, answer_line = (line for line in out.splitlines() if line.strip())
    assert "demo-chat" in [m["id"] for m in json.loads(models_line)["models"]]
    answer = json.loads(answer_line)
    assert answer["modelId"] == "demo-chat" and answer["text"] == REPLY and answer["finishReason"] == "stop"

    (python_block,) = _blocks("python")
    env = {**os.environ, "TOKEN": token_line.removeprefix("TOKEN=")}
    printed = subprocess.run([str(PYTHON), "-c", _local(python_block, emulators)], capture_output=True, text=True, timeout=120, check=True, env=env).stdout
    assert printed.strip() == REPLY.strip()


def test_the_readme_organisations_show_each_its_own_models(dev_seed, emulators) -> None:
    """The README's two organisation calls, as user@demo.test (a member of both): each lists its own catalogue."""
    sign_in = _local(_blocks("bash")[0], emulators).rsplit("curl -s http", 1)[0]  # the sign-in, not the first call's list
    (calls,) = (_local(b, emulators) for b in _blocks("bash", "## Organisations"))
    calls = "\necho\n".join(calls.strip().splitlines())  # curl prints no newline after an answer
    out = subprocess.run(["bash", "-c", f"set -euo pipefail\n{sign_in}\n{calls}"], capture_output=True, text=True, timeout=120, check=True).stdout
    acme, globex = ({m["id"] for m in json.loads(line)["models"]} for line in out.splitlines() if line.strip())
    assert acme == {"acme-chat", "demo-chat", "demo-image"}
    assert globex == {"globex-chat"}
