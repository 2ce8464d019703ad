"""The floor: a bare Cloud Function that forwards the body upstream with one shared httpx.Client."""

import os

import httpx
from firebase_functions import https_fn

client = httpx.Client(timeout=30)


@https_fn.on_request()
def passthrough(request: https_fn.Request) -> https_fn.Response:
    upstream = client.post(os.environ["UPSTREAM_URL"], content=request.get_data(), headers={"Content-Type": "application/json"})
    return https_fn.Response(upstream.content, status=upstream.status_code, mimetype="application/json")
