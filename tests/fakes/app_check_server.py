"""Firebase App Check's two endpoints the Admin SDK calls, served from a test RSA key.

- ``GET /v1/jwks``: the public keys App Check tokens are signed with.
- ``POST /v1beta/projects/{project}:verifyAppCheckToken``: the replay check of
  limited-use tokens; answers ``alreadyConsumed`` as App Check does (true from
  a token's second use on). ``state["fail"]`` makes it answer 503.

``state["consumed"]`` lists every token the replay check saw.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.server import JsonHandler

PROJECT_NUMBER = "123456789012"


class AppCheckKey:
    """An RSA key and a factory of App Check tokens signed with it."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, project: str, app_id: str = f"1:{PROJECT_NUMBER}:web:0123456789abcdef", lifetime: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": f"https://firebaseappcheck.googleapis.com/{PROJECT_NUMBER}",
            "aud": [f"projects/{PROJECT_NUMBER}", f"projects/{project}"],
            "sub": app_id,
            "iat": now - 10,
            "exp": now - 10 + lifetime,
            **claims,
        }
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


class AppCheckEndpoint(JsonHandler):
    """``state['keys']``: the :class:`AppCheckKey` objects whose public keys are published."""

    def do_GET(self) -> None:
        if self.path != "/v1/jwks":
            return self.send_json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
        self.send_json(200, {"keys": [k.jwk() for k in self.state["keys"]]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.endswith(":verifyAppCheckToken"):
            return self.send_json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
        if self.state.get("fail"):
            return self.send_json(503, {"error": {"code": 503, "message": "backend unavailable", "status": "UNAVAILABLE"}})
        consumed = self.state.setdefault("consumed", [])
        token = body.get("app_check_token")
        already = token in consumed
        consumed.append(token)
        self.send_json(200, {"alreadyConsumed": True} if already else {})
