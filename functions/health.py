"""``health``: is the gateway up, and can it reach its providers? No auth."""

from __future__ import annotations

from typing import Any

from firebase_functions import https_fn

from gateway import deploy, http, openapi


def _report(ctx: http.Context) -> tuple[dict[str, Any], int]:
    from gateway import health as probes

    return probes.report()


ROUTES = {"GET": http.Handler(_report, public=True)}
API = (
    openapi.Op("GET", "/health", "Gateway and provider health", {200: "HealthReport", 503: "HealthReport"},
               description="Probes every enabled provider (cached 30 s): 200 healthy or degraded, 503 unhealthy."),
)


@https_fn.on_request(max_instances=deploy.HEALTH_MAX_INSTANCES)
def health(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "health", ROUTES)
