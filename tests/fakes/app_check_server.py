"""Firebase App Check's two endpoints the Admin SDK calls, served from a test RSA key.

- ``GET /v1/jwks``: the public keys App Check tokens are signed with.
- ``POST /v1beta/projects/{project}:verifyAppCheckToken``: the replay check of
  limited-use tokens; answers ``alreadyConsumed`` as App Check does (true from
  a token's second use on). ``state["fail"]`` makes it answer 503;
  ``state["deny"]`` makes it refuse every call 403 as Google IAM refuses a
  caller without ``firebaseappcheck.appCheckTokens.verify``; a token not
  signed by a published key (or listed in ``state["reject"]``) is refused 403
  as App Check refuses an invalid one.
  ``state["hold"]`` (a ``threading.Event``) holds each answer until it is set
  (403 after 5 s).

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


def iam_denial(path: str) -> dict[str, Any]:
    """Google's answer to a caller whose service account lacks the permission (an ``ErrorInfo`` naming it)."""
    resource = "//firebaseappcheck.googleapis.com/" + path.split("/v1beta/", 1)[-1].split(":", 1)[0]
    return {
        "error": {
            "code": 403,
            "message": f"Permission 'firebaseappcheck.appCheckTokens.verify' denied on resource '{resource}' (or it may not exist).",
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": {"permission": "firebaseappcheck.appCheckTokens.verify", "resource": resource},
                }
            ],
        }
    }


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
        self.state.setdefault("calls", []).append(body.get("app_check_token"))
        hold = self.state.get("hold")  # a threading.Event: answer only once the test lets go (at most 5 s)
        if hold is not None and not hold.wait(5):
            return self.send_json(403, {"error": {"code": 403, "message": "held too long", "status": "PERMISSION_DENIED"}})
        if self.state.get("deny"):
            return self.send_json(403, iam_denial(self.path))
        token = body.get("app_check_token")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except Exception:
            kid = None
        if kid not in {k.kid for k in self.state["keys"]} or token in self.state.get("reject", ()):
            return self.send_json(403, {"error": {"code": 403, "message": "The provided App Check token is invalid.", "status": "PERMISSION_DENIED"}})
        consumed = self.state.setdefault("consumed", [])
        token = body.get("app_check_token")
        already = token in consumed
        consumed.append(token)
        self.send_json(200, {"alreadyConsumed": True} if already else {})
