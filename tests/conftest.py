"""Session fixtures: the real Emulator Suite (started once), accounts, clients.

Tests talk to the gateway two ways: over HTTP through the Functions emulator
(what a web app does), and in-process through functions-framework's Flask
app (fast, and lets a test read the instance's caches and counters). Both
use the same Auth and Firestore emulators.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "functions"), str(ROOT)]

import stack as stack_module  # noqa: E402

PASSWORD = "test-password"
T = TypeVar("T")


@pytest.fixture(scope="session")
def stack() -> Iterator[stack_module.Stack]:
    """The Auth, Firestore, Storage, Functions and Hosting emulators, on free ports, for the whole run."""
    running = stack_module.Stack(fresh_ports=True)
    running.start()
    saved = dict(os.environ)
    os.environ.update(running.env)
    try:
        yield running
    finally:
        from gateway import live, secrets, upstream

        live.close_all()
        upstream.close()
        secrets.forget()
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
        for attempt in range(3):  # the emulator answers 499 now and then while a listener's stream is torn down
            response = requests.delete(url, timeout=10)
            if response.status_code != 499 or attempt == 2:
                response.raise_for_status()
                return
            time.sleep(0.2)


@pytest.fixture(scope="session")
def emulators(stack: stack_module.Stack) -> Emulators:
    return Emulators(stack)


@pytest.fixture(scope="session")
def accounts(emulators: Emulators) -> dict[str, Account]:
    """One signed-in account per role."""
    return {role: emulators.sign_up(role) for role in ("admin", "user", "viewer")}


def emulator_retry(setup: Callable[[], T]) -> T:
    """Run an idempotent fixture ``setup`` again when the Firestore emulator cancels one of its writes.

    The emulator notifies its listeners inside a commit; when one of them is a
    stream whose client died (a worker a test killed or froze), the commit
    fails with CANCELLED "call already cancelled", a bug of the emulator with
    no production counterpart. Fixture writes are plain sets, safe to repeat.
    """
    from google.api_core import exceptions

    for attempt in range(3):
        try:
            return setup()
        except exceptions.Cancelled:
            if attempt == 2:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def eventually(check: Callable[[], T], timeout: float = 15.0) -> T:
    """``check()``'s value once it stops raising ``AssertionError`` or ``StopIteration``.

    A write through one function reaches another function's registry through
    that instance's Firestore listener, a moment later (in production too):
    what another service answers is asserted once the listener has reported.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, StopIteration):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def reset(emulators: Emulators) -> None:
    """An empty Firestore with the seed providers, and cold caches in this process."""
    from gateway import auth, budgets, health, limits
    from gateway.registry import registry
    from seed import load

    emulator_retry(lambda: (emulators.clear_firestore(), load.load_providers(actor="test")))
    registry().invalidate()
    auth.forget()
    health.reset()
    limits.forget()
    budgets.forget()


@pytest.fixture
def clean(emulators: Emulators) -> Iterator[None]:
    """An empty Firestore with the seed providers, and cold caches in this process."""
    reset(emulators)
    yield


class InProcess:
    """The functions served in this process by functions-framework (Flask test clients).

    Responses are read whole and closed, as a WSGI server does; pass
    ``buffered=False`` to read a stream piece by piece.
    """

    def __init__(self) -> None:
        import functions_framework
        from flask.testing import FlaskClient

        class ClosingClient(FlaskClient):
            def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
                return super().open(*args, buffered=buffered, **kwargs)

        self._clients: dict[str, Any] = {}
        self._create = functions_framework.create_app
        self._client_class = ClosingClient

    def __call__(self, function: str) -> Any:
        if function not in self._clients:
            # create_app sets FUNCTION_TARGET (and friends) in os.environ, where every later subprocess (a deploy
            # discovery, an emulator) would inherit it and serve one function: keep them local to the app.
            saved = {key: value for key, value in os.environ.items() if key.startswith("FUNCTION_")}
            try:
                app = self._create(function, str(ROOT / "functions" / "main.py"))
            finally:
                for key in [key for key in os.environ if key.startswith("FUNCTION_")]:
                    del os.environ[key]
                os.environ.update(saved)
            app.test_client_class = self._client_class
            self._clients[function] = app.test_client()
        return self._clients[function]


@pytest.fixture(scope="session")
def local(stack: stack_module.Stack) -> InProcess:
    return InProcess()


class Worker:
    """One function served by its own process the way Cloud Run serves it: the functions-framework CLI (gunicorn).

    ``env`` adds to the stack's environment (e.g. ``THREADS``); :meth:`kill`
    ends it as abruptly as an instance being shut down without warning.
    """

    def __init__(self, stack: stack_module.Stack, target: str, env: dict[str, str] | None = None) -> None:
        self.port = stack_module.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **stack.env, "FUNCTION_TARGET": target, **(env or {})}
        self.target = target
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        import httpx

        cli = Path(sys.executable).with_name("functions-framework")
        self.process = subprocess.Popen(
            [str(cli), "--target", self.target, "--source", str(ROOT / "functions" / "main.py"), "--port", str(self.port)],
            cwd=ROOT / "functions", env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/__/health", timeout=1)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.kill()
                    raise RuntimeError(f"the {self.target} worker did not start") from None
                time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __exit__(self, *exc: object) -> None:
        self.kill()


KEYS = {
    "openai": "sk-test-openai-0123456789abcdef",
    "openrouter": "sk-or-test-0123456789abcdef",
    "huggingface": "hf_test_0123456789abcdef",
    "anthropic": "sk-ant-test-0123456789abcdef",
    "gemini": "AIza-test-0123456789abcdef",
}


@pytest.fixture(scope="session")
def upstreams(stack: stack_module.Stack) -> Iterator[dict[str, Any]]:
    """One fake server per provider wire format, for the whole run."""
    from fakes.anthropic_server import AnthropicServer
    from fakes.gemini_server import GeminiServer
    from fakes.hf_image_server import HFImageServer
    from fakes.ollama_server import OllamaServer
    from fakes.openai_server import OpenAIServer
    from fakes.server import FakeServer

    servers = {
        "openai": FakeServer(OpenAIServer),
        "openrouter": FakeServer(OpenAIServer),
        "huggingface": FakeServer(OpenAIServer),
        "lmstudio": FakeServer(OpenAIServer),
        "ollama": FakeServer(OllamaServer),
        "anthropic": FakeServer(AnthropicServer),
        "gemini": FakeServer(GeminiServer),
        "hf-images": FakeServer(HFImageServer),
    }
    for server in servers.values():
        server.__enter__()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)


PROVIDER_DOCS = {
    "openai": ("openai", "{url}/v1", True),
    "openrouter": ("openrouter", "{url}/api/v1", True),
    "huggingface": ("huggingface", "{url}/v1", True),
    "lmstudio": ("lmstudio", "{url}/v1", False),
    "ollama": ("ollama", "{url}", False),
    "anthropic": ("anthropic", "{url}", True),
    "gemini": ("gemini", "{url}/v1beta", True),
}


@pytest.fixture
def providers(clean, upstreams) -> dict[str, Any]:
    """Provider documents pointing at the fakes, one text model each (``<provider>-chat``), keys in Secret Manager."""
    from gateway import providers_store, secrets
    from gateway.registry import registry

    emulator_retry(lambda: _provider_documents(upstreams))
    secrets.forget()
    providers_store.invalidate()
    registry().invalidate()
    return upstreams


def _provider_documents(upstreams: dict[str, Any]) -> None:
    from gateway import firebase, secrets
    from gateway.schemas import key_binding

    db = firebase.db()
    upstreams["hf-images"].state.clear()
    upstreams["hf-images"].state.update({"key": KEYS["huggingface"], "faults": [], "requests": []})
    for name, (kind, base, keyed) in PROVIDER_DOCS.items():
        server = upstreams[name]
        server.state.clear()
        server.state.update({"key": KEYS.get(name), "flavor": kind, "faults": [], "requests": []})
        doc = {"type": kind, "baseUrl": base.format(url=server.url), "enabled": True, "hasKey": keyed}
        if name == "huggingface":
            doc["imageBaseUrl"] = f"{upstreams['hf-images'].url}/hf-inference"
        if keyed:  # in the provider's secret (AI_GATEWAY_PROVIDER_<ID>), pinned and bound, as POST /providers with an apiKey stores it
            doc["keyVersion"] = secrets.put(secrets.name_for(name), KEYS[name])
            doc["keyBinding"] = key_binding(KEYS[name], name, doc)
        db.collection("providers").document(name).set(doc)
        db.collection("models").document(f"{name}-chat").set(
            {
                "name": f"{name}-model",
                "provider": name,
                "type": "text",
                "enabled": True,
                "config": {"maxTokens": 64, "maxTokensLimit": 1000, "timeoutSeconds": 2},
                "pricing": {"inputPer1M": 1.0, "outputPer1M": 2.0},
            }
        )


CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root, offline: no sandbox (root), and no background calls to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / ".stack" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package, installed by scripts/setup.sh), driven by Playwright, for the whole run."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run make setup (it installs Debian's chromium)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class WebApp:
    """The demo web app served by the Hosting emulator (its own origin), in a fresh browser context per sign-in."""

    def __init__(self, browser: Any, stack: stack_module.Stack) -> None:
        self.browser, self.url = browser, stack.web_url
        self.contexts: list[Any] = []

    def open(self, account: Account, route: str = "chat") -> Any:
        """A page signed in as ``account`` through the app's own form, showing ``#/route``."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught exceptions in the page fail the test that opened it
        page.on("pageerror", lambda err: page.errors.append(str(err)))
        page.goto(f"{self.url}/#/{route}")
        page.fill("#email", account.email)
        page.fill("#password", PASSWORD)
        page.click("#signin button[type=submit]")
        page.wait_for_selector("#user-email")
        return page

    @staticmethod
    def screenshot(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser, stack) -> Iterator[WebApp]:
    app = WebApp(browser, stack)
    try:
        yield app
    finally:
        app.close()
