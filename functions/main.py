"""The deployable functions: only what this module exposes is served.

Deploy options come first: the SDK's decorators read the global options
when they run, i.e. when the function modules below are imported, so
:func:`gateway.deploy.set_global_options` must run before those imports.
``THREADS`` is set here too (when the environment does not already say) so
that functions-framework, which reads it after importing this module, runs as
many gunicorn threads as Cloud Run may send requests (see ``gateway/deploy.py``).

Every instance imports this module on a cold start. The runtime (Cloud Run,
and the emulator, which starts one functions-framework per function) names
the one function an instance serves in ``FUNCTION_TARGET``; only that
function's module is imported there, so ``models`` does not load the provider
adapters, nor ``generate_text`` the admin API, nor an HTTP function the
Firestore trigger's ``google.cloud.firestore_v1`` event types. Discovery
(deploy, the emulator's) sets no target and imports them all.
"""

import importlib
import os
import sys
from typing import Any

from gateway import deploy

deploy.check_environment()  # before anything is served: an instance with emulator settings never starts
deploy.tune_malloc()  # before the request threads exist
deploy.set_global_options()
os.environ.setdefault("THREADS", str(deploy.THREADS))

MODULES = {
    "conversations": "conversations_api",
    "generate_image": "generate_image",
    "generate_text": "generate_text",
    "health": "health",
    "models": "models",
    "openai": "openai_api",
    "orgs": "orgs_api",
    "providers": "providers_api",
    "usage": "usage_api",
    "audit_model_edits": "model_audit",
    "settle_leftovers": "settle_leftovers",
}
"""Each function's name, and the module that defines it."""
SECRET_MANAGER_USERS = ("generate_image", "generate_text", "health", "openai", "providers")

_target = os.environ.get("FUNCTION_TARGET")
__all__ = [_target] if _target in MODULES else list(MODULES)
for _name in __all__:
    globals()[_name] = getattr(importlib.import_module(MODULES[_name]), _name)
deploy.requires_secret_manager(*(globals()[name] for name in __all__ if name in SECRET_MANAGER_USERS))


def _unrouted(error: Exception) -> Any:
    """A path functions-framework's ``/<path:path>`` rule misses (one with a newline, ``%0A``) goes to the function too.

    Otherwise Flask answers it with an HTML page; this way it gets the
    function's own answer (a 404 in its error shape).
    """
    from flask import current_app, request

    return globals()[current_app.name](request)


if "functions_framework" in sys.modules:  # the server imported it before us; deploy discovery never serves, and need not pay for it
    sys.modules["functions_framework"].errorhandler(404)(_unrouted)

