"""Run the tests' fake OpenAI-compatible server as its own process (prints its URL, serves until killed)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.openai_server import OpenAIServer  # noqa: E402
from fakes.server import FakeServer  # noqa: E402

if __name__ == "__main__":
    with FakeServer(OpenAIServer, reply="The quick brown fox jumps over the lazy dog") as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)
