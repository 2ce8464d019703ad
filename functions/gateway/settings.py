"""Deploy-time configuration, declared as Firebase params.

Each value is read lazily (``.value`` reads the environment the Functions
runtime fills from the params / ``.env`` files), so nothing here costs
anything at import time and tests can change a setting with an env var.

Every param (these and the service accounts in ``gateway/deploy.py``) has a
value in the committed ``functions/.env``: ``firebase deploy`` run without a
terminal (CI) fails on a param with no value instead of prompting for it.
``tests/test_deploy.py`` checks that the file covers the deploy manifest.
"""

from __future__ import annotations

from firebase_functions import params

CORS_ORIGINS = params.StringParam(
    "CORS_ORIGINS",
    default="*",
    description="Comma-separated origins allowed to call the gateway from a browser, or *.",
)
DEFAULT_ROLE = params.StringParam(
    "DEFAULT_ROLE",
    default="viewer",
    description="Role of a signed-in user with neither a role claim nor a users/{uid} role (viewer: a sign-up cannot spend until someone grants more).",
)
VERIFIED_ROLE = params.StringParam(
    "VERIFIED_ROLE",
    default="",
    description="Role given instead of DEFAULT_ROLE to such a user whose email is verified (e.g. user); empty: none.",
)
CHECK_REVOKED = params.BoolParam(
    "AUTH_CHECK_REVOKED",
    default=True,
    description="Refuse revoked tokens and users disabled in Auth (user record cached briefly).",
)
USER_CACHE_SECONDS = params.IntParam(
    "USER_CACHE_SECONDS",
    default=60,
    description="How long a user's Auth record and users/{uid} document are cached per instance.",
)
REGISTRY_CACHE_SECONDS = params.IntParam(
    "REGISTRY_CACHE_SECONDS",
    default=300,
    description="Safety net: models, providers and config/limits are re-read this often even while their listeners push changes.",
)
MAX_BODY_BYTES = params.IntParam(
    "MAX_BODY_BYTES",
    default=1 << 20,
    description="Largest request body accepted, in bytes.",
)
HEALTH_CACHE_SECONDS = params.IntParam(
    "HEALTH_CACHE_SECONDS",
    default=30,
    description="How long provider probe results are reused by the health function.",
)
HEALTH_PROBE_TIMEOUT_MS = params.IntParam(
    "HEALTH_PROBE_TIMEOUT_MS",
    default=1500,
    description="Per-provider probe timeout in ms; health answers within about this long.",
)
SSE_HEARTBEAT_SECONDS = params.IntParam(
    "SSE_HEARTBEAT_SECONDS",
    default=15,
    description="Seconds of upstream silence after which a stream sends a ': keep-alive' comment.",
)
RETRY_MAX_ATTEMPTS = params.IntParam(
    "RETRY_MAX_ATTEMPTS",
    default=3,
    description="Upstream attempts per provider call (first try included).",
)
RETRY_TOTAL_SECONDS = params.IntParam(
    "RETRY_TOTAL_SECONDS",
    default=30,
    description="Most time spent waiting between upstream retries for one request.",
)
SECRET_CACHE_SECONDS = params.IntParam(
    "SECRET_CACHE_SECONDS",
    default=300,
    description="How long a provider key read from Secret Manager is kept in memory.",
)
IMAGES_BUCKET = params.StringParam(
    "IMAGES_BUCKET",
    default="",
    description="Bucket for generated images; empty means the project's default Firebase Storage bucket.",
)
RATE_LIMITS_ENABLED = params.BoolParam(
    "RATE_LIMITS_ENABLED",
    default=True,
    description="Enforce per-user rate limits (one Firestore write per generation request).",
)
USAGE_MODEL_SHARDS = params.IntParam(
    "USAGE_MODEL_SHARDS",
    default=100,
    description="Documents each model's daily usage totals are spread over; keep it above peak requests/s on one model.",
)
USAGE_DAY_SHARDS = params.IntParam(
    "USAGE_DAY_SHARDS",
    default=10,
    description="Documents each user's daily totals are spread over (Firestore takes ~1 write/s a document); a budget check reads them all.",
)
LEDGER_DOWN_POLICY = params.StringParam(
    "LEDGER_DOWN_POLICY",
    default="closed",
    description="Firestore cannot count or reserve a request within 5 s: closed refuses it (503, Retry-After: 5) before any provider call; open serves it uncounted and books it when it settles.",
)
OUTBOUND_PRIVATE_HOSTS = params.StringParam(
    "OUTBOUND_PRIVATE_HOSTS",
    default="",
    description="Comma-separated host names or CIDR ranges providers may use although private or loopback (a self-hosted Ollama); metadata and link-local addresses stay refused.",
)
APP_CHECK = params.StringParam(
    "APP_CHECK",
    default="off",
    description="Firebase App Check: off, monitor or enforce, for every function or per function (monitor,generate_text=enforce,openai=off).",
)
APP_CHECK_CONSUME = params.StringParam(
    "APP_CHECK_CONSUME",
    default="",
    description="Comma-separated generation functions (generate_text, generate_image, openai) that take limited-use App Check tokens and consume them (replay protection).",
)
PROJECT_DAILY_COST_USD = params.StringParam(
    "PROJECT_DAILY_COST_USD",
    default="20",
    description="Project-wide daily spending cap in USD, a hard stop for every caller; config/limits.projectDailyCostUsd overrides it. Empty: no cap.",
)
PROJECT_CAP_SHARDS = params.IntParam(
    "PROJECT_CAP_SHARDS",
    default=10,
    description="Documents the project cap is spread over, each allowed an equal share; more shards take more requests/s, fewer waste less near the cap.",
)
DEFAULT_PRICING = params.StringParam(
    "DEFAULT_PRICING",
    default="",
    description='Prices for models an admin left unpriced, as JSON ({"inputPer1M": 5, "outputPer1M": 15, "perImage": 0.05}); empty: such models are refused while a cost budget applies.',
)
DEFAULT_MAX_TOKENS = params.IntParam(
    "DEFAULT_MAX_TOKENS",
    default=4096,
    description="Completion tokens asked of a provider when neither the request nor the model's config.maxTokens says (the budget reserves this much).",
)
BUDGET_LEASE_FACTOR = params.IntParam(
    "BUDGET_LEASE_FACTOR",
    default=4,
    description="While a user's budgets are far from their limits, an instance reserves this many more requests' worst case ahead and admits them without a Firestore round trip before the call; 0: every request reserves its own.",
)
