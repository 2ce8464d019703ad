"""Google's token-signing certificate endpoint, served from a test RSA key.

Production ID tokens are RS256 JWTs whose ``kid`` names a certificate at
Google's x509 endpoint; this server plays that endpoint so the production
verification path runs for real against tokens the tests sign.
"""

from __future__ import annotations

import datetime
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class SigningKey:
    """An RSA key, its self-signed certificate, and a token factory."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )

    def token(self, project: str, uid: str, lifetime: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": f"https://securetoken.google.com/{project}",
            "aud": project,
            "auth_time": now - 10,
            "user_id": uid,
            "sub": uid,
            "iat": now - 10,
            "exp": now - 10 + lifetime,
            "firebase": {"identities": {}, "sign_in_provider": "password"},
            **claims,
        }
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": self.kid})


class CertEndpoint(BaseHTTPRequestHandler):
    """``state['keys']``: the :class:`SigningKey` objects whose certificates are published."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        keys = self.server.state["keys"]  # type: ignore[attr-defined]
        body = json.dumps({k.kid: k.cert_pem for k in keys}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "public, max-age=3600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
