"""Deploy-time options of every function, set once and on purpose.

``main.py`` passes these to ``firebase_functions.options.set_global_options``
before it imports a function module: the SDK's decorators compute each
function's manifest entry (``__firebase_endpoint__``) when they run, merging
the global options in at that moment, so options set afterwards would be
ignored. Per-function overrides on the decorators take their values from here.
``tests/test_deploy.py`` runs the SDK's discovery as ``firebase deploy`` does
and checks every value below in the manifest.

What runs in production: each function is a Cloud Run service built by
Google's buildpacks (``python/functions_framework``), whose web process is the
``functions-framework`` CLI with ``FUNCTION_TARGET`` set. That CLI imports
``main.py`` (``create_app``) and only then builds gunicorn
(``_http/gunicorn.py``): one worker with ``THREADS`` threads, by default
``os.cpu_count() * 4`` (4 on one vCPU). Cloud Run sends an instance up to
``concurrency`` requests at once; with 4 threads the 5th waits in gunicorn's
queue behind four streams that may last minutes, although the instance is
idle. So the worker must run ``THREADS == CONCURRENCY`` threads (as Google's
concurrency page recommends for Python): ``THREADS`` is in the committed
``functions/.env``, which ``firebase deploy`` turns into the services'
environment, and ``main.py`` also sets it (when unset) before gunicorn reads
it. ``tests/test_concurrency.py`` measures both settings.

- ``REGION``: one region for all functions, the Firestore trigger included, so
  the HTTPS functions and the trigger sit next to each other and next to a
  Firestore database in ``nam5`` (``firebase deploy`` creates the database
  there when the project has none; Eventarc routes the trigger's events from
  the database's location). A constant, not a param: the SDK types ``region``
  as a plain string (``timeout_sec``, ``memory`` and ``concurrency`` accept
  expressions, ``region`` does not), and moving functions is a deliberate
  change (deploy then offers to delete the old ones), not an env edit.
  ``scripts/stack.py`` uses the same region for the emulator URLs.
- ``CPU`` 1 and ``CONCURRENCY`` 80: a request costs the gateway ~1-2 ms of
  CPU (see docs/measured.md) and a stream mostly waits on its provider, so one
  vCPU keeps up with 80 at once (79 streams and a GET: every first byte
  within ~1 s, ``tests/test_concurrency.py``). 80 is Cloud Run's default and
  what the SDK resets to with ``cpu >= 1``; higher would pack more streams
  into one process and one GIL for little gain, lower would multiply
  instances, cold starts and Firestore listeners. ``cpu`` below 1 would
  force concurrency 1.
- ``MEMORY`` 512 MiB: an instance (gunicorn's arbiter and its one worker,
  with the Firestore client, listeners and the pooled upstream client) used
  ~110 MB (PSS) while serving 79 streams and a GET on loopback
  (``tests/test_concurrency.py`` prints it). Production adds what loopback
  lacks: TLS per upstream connection and real bodies (up to 1 MiB each, 80 at
  once), so the 256 MiB default would leave too little headroom.
- Images sent to a model (vision): a request may carry 12 MiB of them, which
  it holds, base64-encoded again in the provider's request, until it ends
  (~46 MB each). 80 such requests at once would need ~1 GB even with the
  allocator tuned (:func:`tune_malloc`; untuned, glibc keeps every thread's
  freed 16 MiB buffers and the instance passed 512 MiB with one at a time),
  so ``VISION_SLOTS`` of them run at once per instance (4 in 512 MiB; peak
  RSS 353 MB with 80 such requests arriving together) and the others wait
  up to 10 s, then get a 503 with ``Retry-After`` (``gateway/vision.py``,
  ``tests/test_memory.py``). 512 MiB stays: raising ``MEMORY`` raises the
  slots with it.
- ``IMAGE_MEMORY`` 1 GiB for ``generate_image``: each image is held as base64
  text, bytes and a full Pillow decode (a 1024x1024 RGBA image is 4 MiB), up
  to 4 images a request, and many requests can reach that step together.
  ``openai``'s ``/v1/images/generations`` runs the same code in ``MEMORY``:
  its 16 MiB answer budget (``ANSWER_MB``) lets about one such request hold
  its images at a time (peak RSS ~275 MB with 80 requests for 4 images of
  1024x1024 arriving together, ``tests/test_memory.py``).
- Timeouts: ``STREAM_TIMEOUT_SECONDS`` 3600 (the 2nd-gen HTTP maximum) for
  ``generate_text`` and ``openai``, whose streams can be long;
  ``PROVIDERS_TIMEOUT_SECONDS`` 540 for provider discovery, tests and imports;
  ``IMAGE_TIMEOUT_SECONDS`` 540 for up to 4 sequential image calls to slow
  models (Hugging Face "model loading" waits included); 60 s elsewhere.
- Service accounts: ``GATEWAY_SERVICE_ACCOUNT`` for every function and
  ``PROVIDERS_SERVICE_ACCOUNT`` for ``providers``, the one function that
  writes secrets. Both default to empty, which ``firebase deploy`` sends as
  "no account", i.e. the project's default compute service account, so a
  first deploy works without creating accounts. ``name@`` is expanded by
  firebase-tools to ``name@<project>.iam.gserviceaccount.com``. They are
  params: the SDK writes a param as its ``{{ params.NAME }}`` reference in
  the manifest and firebase-tools resolves ``serviceAccount`` like any other
  option (the SDK's type hint says ``str`` only; the deploy test checks both
  ends).
- ``MIN_INSTANCES`` (a param, 0 in ``functions/.env``) for the generation
  functions (``generate_text``, ``openai``, ``generate_image``): instances
  kept warm, so a quiet project's first request pays no cold start and finds
  the upstream connections open. Each one is billed while idle.
- ``HEALTH_MAX_INSTANCES`` 2: ``health`` is public (no token), so anyone can
  call it; its answer is cached per instance and probes every provider, so
  more instances would only multiply the probes a flood causes.
- Emulator variables are refused in production (:func:`check_environment`):
  each switches on emulator behaviour (anonymous credentials, loopback
  providers, unsigned ID tokens, another Secret Manager), and ``functions/.env``
  or a project's ``.env.<project-id>`` may set most of them.
- Secret Manager: the HTTPS functions that read provider keys declare
  ``secretmanager.googleapis.com`` as a required API in the manifest, which
  ``firebase deploy`` enables (it is one of its standard APIs, enabled without
  a prompt). The SDK has no public option for this: it reads the same
  attribute its own scheduler, task-queue and Eventarc decorators set, and
  ignores it harmlessly if a future SDK stops reading it (the deploy test
  would then fail, and the one ``gcloud services enable`` command in docs/deploy.md
  remains the way).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from firebase_functions import options, params

REGION = "us-central1"
CPU = 1
CONCURRENCY = 80
THREADS = CONCURRENCY
MEMORY = options.MemoryOption.MB_512
IMAGE_MEMORY = options.MemoryOption.GB_1
TIMEOUT_SECONDS = 60
STREAM_TIMEOUT_SECONDS = 3600
PROVIDERS_TIMEOUT_SECONDS = 540
IMAGE_TIMEOUT_SECONDS = 540
SWEEP_TIMEOUT_SECONDS = 300

HEALTH_MAX_INSTANCES = 2
INSTANCE_BASE_MB = 160
"""A warm ``generate_text`` instance's RSS before its load (156 MB measured, ``tests/test_memory.py``)."""
HEADROOM_MB = 128
"""Left for the requests without images: 80 streams, TLS, real bodies of up to ``MAX_BODY_BYTES``."""
VISION_REQUEST_MB = 48
"""What one request with 12 MiB of images adds while it runs (its images, their base64 in the provider's body, that body's bytes): ~46 MB measured."""
VISION_SLOTS = max(1, (int(MEMORY) - INSTANCE_BASE_MB - HEADROOM_MB) // VISION_REQUEST_MB)
"""Requests of one ``generate_text``/``openai`` instance that may hold images at once (4 in 512 MiB); ``gateway.vision`` makes the others wait."""

ANSWER_MB = 16
"""Raw bytes of provider answers a 512 MiB instance holds at once (``gateway.answers_held``); each costs ~4× while parsed and answered (measured with 16 MiB answers), inside ``HEADROOM_MB``."""
IMAGE_ANSWER_MB = 64
"""The same for ``generate_image`` (1 GiB): base64 images, their bytes and the upload."""


def answer_budget_mb(target: str | None = None) -> int:
    """The answer budget of the function this instance serves (``FUNCTION_TARGET``, set by Cloud Run and the emulator)."""
    target = os.environ.get("FUNCTION_TARGET", "") if target is None else target
    return IMAGE_ANSWER_MB if target == "generate_image" else ANSWER_MB


SECRET_MANAGER_API = "secretmanager.googleapis.com"
EMULATOR_VARIABLES = (
    "FUNCTIONS_EMULATOR",
    "FIRESTORE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "FIREBASE_STORAGE_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
    "SECRET_MANAGER_EMULATOR_HOST",
)
"""Variables that switch the gateway (or the SDKs it uses) to emulator behaviour."""
CLOUD_RUN_VARIABLE = "K_CONFIGURATION"
"""Set by Cloud Run on every service's instances; the Functions emulator sets ``K_SERVICE`` and ``K_REVISION`` but not this."""

MIN_INSTANCES = params.IntParam(
    "MIN_INSTANCES",
    default=0,
    description="Instances of each generation function (generate_text, openai, generate_image) kept warm, billed while idle; 0: scale to zero.",
)

GATEWAY_SERVICE_ACCOUNT = params.StringParam(
    "GATEWAY_SERVICE_ACCOUNT",
    default="",
    description="Service account every function runs as ('name@' or a full email); empty: the default compute service account.",
)
PROVIDERS_SERVICE_ACCOUNT = params.StringParam(
    "PROVIDERS_SERVICE_ACCOUNT",
    default="",
    description="Service account of the providers function, which stores keys in Secret Manager; empty: the default compute service account.",
)


def set_global_options() -> None:
    """The options every function shares; call before any function module is imported."""
    options.set_global_options(
        region=REGION,
        cpu=CPU,
        concurrency=CONCURRENCY,
        memory=MEMORY,
        timeout_sec=TIMEOUT_SECONDS,
        service_account=GATEWAY_SERVICE_ACCOUNT,  # type: ignore[arg-type]  # a param: firebase-tools resolves it
    )


def requires_secret_manager(*functions: Callable[..., Any]) -> None:
    """Declare, in the deploy manifest, that these functions need the Secret Manager API."""
    api = {"api": SECRET_MANAGER_API, "reason": "Provider keys are read from (and stored by providers in) Secret Manager."}
    for function in functions:
        setattr(function, "__required_apis", [api])


def threads() -> int:
    """The request threads of this instance (functions-framework's ``THREADS``, set by ``main.py`` when unset)."""
    try:
        return max(1, int(os.environ.get("THREADS") or THREADS))
    except ValueError:
        return THREADS


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse to start on Cloud Run with an emulator variable set: it would quietly drop production's protections."""
    environ = dict(os.environ) if environ is None else environ
    if not environ.get(CLOUD_RUN_VARIABLE):
        return
    present = [name for name in EMULATOR_VARIABLES if environ.get(name)]
    if present:
        raise RuntimeError(
            f"emulator settings in production: {', '.join(present)} set on Cloud Run service {environ.get('K_SERVICE', '?')}. "
            "They switch on emulator behaviour (anonymous credentials, loopback providers, unsigned tokens); "
            "remove them from functions/.env* and deploy again."
        )


M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters (malloc.h)
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD = 256 << 10


def tune_malloc() -> bool:
    """Give large buffers back to the system when freed; False where the C library is not glibc.

    glibc raises its mmap threshold each time a large block is freed (up to
    32 MiB) and keeps one arena per thread: after 80 threads have each held a
    16 MiB body once, the freed memory stays in their arenas and the
    instance's RSS keeps it. A fixed threshold maps every block above it on
    its own (freed at once); few arenas keep small blocks from spreading.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)) and bool(libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):
        return False
