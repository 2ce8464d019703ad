"""Session fixtures: the real Emulator Suite (started once), accounts, clients.

Tests talk to the gateway two ways: over HTTP through the Functions emulator
(what a web app does), and in-process through functions-framework's Flask
app (fast, and lets a test read the instance's caches and counters). Both
use the same Auth and Firestore emulators.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "functions"), str(ROOT)]

import stack as stack_module  # noqa: E402

PASSWORD = "test-password"


@pytest.fixture(scope="session")
def stack() -> Iterator[stack_module.Stack]:
    """The Auth, Firestore, Storage and Functions emulators, on free ports, for the whole run."""
    running = stack_module.Stack(fresh_ports=True)
    running.start()
    saved = dict(os.environ)
    os.environ.update(running.env)
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Account:
    uid: str
    email: str
    token: str
    role: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Emulators:
    """Helpers over the emulators' REST APIs."""

    def __init__(self, running: stack_module.Stack) -> None:
        self.stack = running
        self.project = stack_module.PROJECT
        self.auth = f"http://{running.host('auth')}"
        self.firestore = f"http://{running.host('firestore')}"

    def url(self, function: str, path: str = "") -> str:
        return self.stack.function_url(function) + path

    def sign_up(self, role: str | None, email: str | None = None) -> Account:
        """A new Auth emulator user with ``role`` as its custom claim, signed in."""
        from firebase_admin import auth

        from gateway import firebase

        email = email or f"{role or 'norole'}-{uuid.uuid4().hex[:8]}@test.example"
        user = auth.create_user(email=email, password=PASSWORD, app=firebase.app())
        if role:
            auth.set_custom_user_claims(user.uid, {"role": role}, app=firebase.app())
        return Account(user.uid, email, self.sign_in(email), role)

    def sign_in(self, email: str) -> str:
        response = requests.post(
            f"{self.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=test",
            json={"email": email, "password": PASSWORD, "returnSecureToken": True},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["idToken"])

    def clear_firestore(self) -> None:
        url = f"{self.firestore}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        requests.delete(url, timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def emulators(stack: stack_module.Stack) -> Emulators:
    return Emulators(stack)


@pytest.fixture(scope="session")
def accounts(emulators: Emulators) -> dict[str, Account]:
    """One signed-in account per role."""
    return {role: emulators.sign_up(role) for role in ("admin", "user", "viewer")}


@pytest.fixture
def clean(emulators: Emulators) -> Iterator[None]:
    """An empty Firestore with the seed providers, and cold caches in this process."""
    from gateway import auth, health
    from gateway.registry import registry
    from seed import load

    emulators.clear_firestore()
    load.load_providers(actor="test")
    registry().invalidate()
    auth.forget()
    health.reset()
    yield


class InProcess:
    """The functions served in this process by functions-framework (Flask test clients)."""

    def __init__(self) -> None:
        import functions_framework

        self._clients: dict[str, Any] = {}
        self._create = functions_framework.create_app

    def __call__(self, function: str) -> Any:
        if function not in self._clients:
            app = self._create(function, str(ROOT / "functions" / "main.py"))
            self._clients[function] = app.test_client()
        return self._clients[function]


@pytest.fixture(scope="session")
def local(stack: stack_module.Stack) -> InProcess:
    return InProcess()
