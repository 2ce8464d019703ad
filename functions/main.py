"""The deployable functions: only what this module exposes is served.

Every instance imports this module on a cold start, and the Firestore trigger
pulls in ``google.cloud.firestore_v1`` (~110 ms). The runtime names the one
function an instance serves in ``FUNCTION_TARGET``; the trigger is imported
only where it can run: its own instances, and discovery (deploy, emulator),
where no target is set.
"""

import os

from generate_image import generate_image
from generate_text import generate_text
from health import health
from models import models
from openai_api import openai
from providers_api import providers
from usage_api import usage

__all__ = ["generate_image", "generate_text", "health", "models", "openai", "providers", "usage"]

if os.environ.get("FUNCTION_TARGET", "audit_model_edits") == "audit_model_edits":
    from model_audit import audit_model_edits

    __all__ += ["audit_model_edits"]
