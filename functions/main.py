"""The deployable functions: only what this module exposes is served.

Deploy options come first: the SDK's decorators read the global options
when they run, i.e. when the function modules below are imported, so
:func:`gateway.deploy.set_global_options` must run before those imports.
``THREADS`` is set here too (when the environment does not already say) so
that functions-framework, which reads it after importing this module, runs as
many gunicorn threads as Cloud Run may send requests (see ``gateway/deploy.py``).

Every instance imports this module on a cold start, and the Firestore trigger
pulls in ``google.cloud.firestore_v1`` (~110 ms). The runtime names the one
function an instance serves in ``FUNCTION_TARGET``; the trigger is imported
only where it can run: its own instances, and discovery (deploy, emulator),
where no target is set.
"""

import os
import sys
from typing import Any

from gateway import deploy

deploy.set_global_options()
os.environ.setdefault("THREADS", str(deploy.THREADS))

from conversations_api import conversations  # noqa: E402
from generate_image import generate_image  # noqa: E402
from generate_text import generate_text  # noqa: E402
from health import health  # noqa: E402
from models import models  # noqa: E402
from openai_api import openai  # noqa: E402
from providers_api import providers  # noqa: E402
from usage_api import usage  # noqa: E402

deploy.requires_secret_manager(generate_image, generate_text, health, openai, providers)


def _unrouted(error: Exception) -> Any:
    """A path functions-framework's ``/<path:path>`` rule misses (one with a newline, ``%0A``) goes to the function too.

    Otherwise Flask answers it with an HTML page; this way it gets the
    function's own answer (a 404 in its error shape).
    """
    from flask import current_app, request

    return globals()[current_app.name](request)


if "functions_framework" in sys.modules:  # the server imported it before us; deploy discovery never serves, and need not pay for it
    sys.modules["functions_framework"].errorhandler(404)(_unrouted)


__all__ = ["conversations", "generate_image", "generate_text", "health", "models", "openai", "providers", "usage"]

if os.environ.get("FUNCTION_TARGET", "audit_model_edits") == "audit_model_edits":
    from model_audit import audit_model_edits

    __all__ += ["audit_model_edits"]
