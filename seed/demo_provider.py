"""A local demo provider for `make dev`: chat, images and embeddings with no AI provider reachable.

It is the tests' fake OpenAI-compatible server (``tests/fakes``: real HTTP on
127.0.0.1, OpenAI's wire format), answering every prompt with the same text,
streamed word by word, and images as small PNGs. ``make dev`` starts it and
registers provider ``demo`` with models ``demo-chat``, ``demo-image`` and ``demo-embed`` (its
key stored in the local Secret Manager like any other), so a newcomer can
sign in to the web app and chat at once. Never loaded into a real project.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-demo-local-0123456789"
REPLY = (
    "This answer comes from the **demo provider** that `make dev` runs on your machine, streamed word by word, "
    "so you can try the gateway without any AI provider:\n\n"
    "- streaming, **Stop** and *Regenerate*;\n"
    "- conversations saved in the sidebar;\n"
    "- usage and cost on the Usage page.\n\n"
    "Code blocks get a copy button:\n\n"
    "```python\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=GATEWAY_URL, api_key=id_token)\n```\n\n"
    "Enable a real provider on the Providers page (or point Ollama at its default port) for real answers."
)
WORD_DELAY_SECONDS = 0.05


def start() -> Any:
    """Start the demo upstream on a free loopback port; the caller stops it with ``__exit__``."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.openai_server import OpenAIServer
    from fakes.server import FakeServer

    server = FakeServer(OpenAIServer, key=KEY, reply=REPLY, chunk_delay=WORD_DELAY_SECONDS, faults=[])
    return server.__enter__()


def register(url: str, actor: str = "seed") -> None:
    """Provider ``demo`` and its models, written as the seed loader writes (audited), its key in Secret Manager."""
    from gateway import audit, firebase, secrets
    from gateway.registry import registry
    from gateway.schemas import ModelSpec, key_binding

    version = secrets.put(secrets.name_for("demo"), KEY)
    ref = firebase.db().collection("providers").document("demo")
    snap = ref.get()
    before = snap.to_dict() if snap.exists else None
    at = audit.now()
    after = {
        **{k: v for k, v in (before or {}).items() if k != "secretName"},
        "type": "openai-compatible",
        "displayName": "Demo (local, canned answers)",
        "baseUrl": f"{url}/v1",
        "enabled": True,
        "hasKey": True,
        "keyVersion": version,
        "updatedAt": at,
        "createdAt": (before or {}).get("createdAt", at),
    }
    after["keyBinding"] = key_binding(KEY, "demo", after)
    batch = firebase.db().batch()
    audit.add_to_batch(batch, "providers", "demo", actor, "create" if before is None else "update", before, after)
    batch.commit()

    reg = registry()
    for raw in MODELS:
        spec = ModelSpec.model_validate(raw)
        if reg.get(spec.id) is None:
            reg.create(spec, actor)
        else:
            reg.replace(spec, actor)


MODELS = [
    {
        "id": "demo-chat",
        "name": "demo-chat",
        "displayName": "Demo chat (local)",
        "provider": "demo",
        "type": "text",
        "enabled": True,
        "config": {"maxTokens": 256, "maxTokensLimit": 4096},
        "pricing": {"inputPer1M": 0.0, "outputPer1M": 0.0},
        "capabilities": ["chat", "streaming"],
    },
    {
        "id": "demo-image",
        "name": "demo-image",
        "displayName": "Demo images (local)",
        "provider": "demo",
        "type": "image",
        "enabled": True,
        "config": {"width": 512, "height": 512},
        "pricing": {"perImage": 0.0},
    },
    {
        "id": "demo-embed",
        "name": "demo-embed",
        "displayName": "Demo embeddings (local)",
        "provider": "demo",
        "type": "embedding",
        "enabled": True,
        "pricing": {"inputPer1M": 0.0},
    },
]
