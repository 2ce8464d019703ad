"""The floor: a bare Cloud Function that forwards the body upstream with one shared httpx.Client.

A request with ``"stream": true`` is relayed as it comes: each piece the
upstream's socket gives is written to the client at once (no parsing), so
streaming has a floor too. No auth, no validation, no ledger: what every
Python ``https_fn.on_request`` function under functions-framework pays.
"""

import json
import os
from collections.abc import Iterator

import httpx
from firebase_functions import https_fn

client = httpx.Client(timeout=30)


def _relay(body: bytes) -> Iterator[bytes]:
    with client.stream("POST", os.environ["UPSTREAM_URL"], content=body, headers={"Content-Type": "application/json"}) as upstream:
        yield from upstream.iter_raw()


@https_fn.on_request()
def passthrough(request: https_fn.Request) -> https_fn.Response:
    if request.method != "POST":  # the bench's readiness probe
        return https_fn.Response("ok", mimetype="text/plain")
    body = request.get_data()
    if json.loads(body).get("stream"):
        return https_fn.Response(_relay(body), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
    upstream = client.post(os.environ["UPSTREAM_URL"], content=body, headers={"Content-Type": "application/json"})
    return https_fn.Response(upstream.content, status=upstream.status_code, mimetype="application/json")
