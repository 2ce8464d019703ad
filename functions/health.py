"""``health``: is the gateway up, and can it reach its providers? No auth."""

from __future__ import annotations

from typing import Any

from firebase_functions import https_fn

from gateway import http


def _report(ctx: http.Context) -> tuple[dict[str, Any], int]:
    from gateway import health as probes

    return probes.report()


ROUTES = {"GET": http.Handler(_report, public=True)}


@https_fn.on_request()
def health(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "health", ROUTES)
