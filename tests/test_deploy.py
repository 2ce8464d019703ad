"""``firebase deploy`` works first time, non-interactively: the manifest says what we chose, ``.env`` answers every param.

Discovery runs the way firebase-tools runs it for Python
(``deploy/functions/runtimes/python/index.js``): the SDK's admin server
(``firebase_functions/private/serving.py``) from the venv, in ``functions/``,
with the ``.env`` values, ``FIREBASE_CONFIG`` and ``ADMIN_PORT`` in its
environment, serving ``/__/functions.yaml``. Then firebase-tools itself (its
Python runtime delegate, its ``.env`` loader and ``resolveBackend`` with
``nonInteractive: true``, as in CI) must turn the same source into a backend
without prompting. No emulator needed: a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
PYTHON = FUNCTIONS / "venv" / "bin" / "python"
PROJECT = "demo-ai-gateway"
FIREBASE_CONFIG = {"projectId": PROJECT, "storageBucket": f"{PROJECT}.firebasestorage.app"}

HTTPS = ("health", "models", "generate_text", "generate_image", "openai", "usage", "conversations", "providers", "orgs")
TRIGGER = "audit_model_edits"
SCHEDULED = "settle_leftovers"

FIREBASE_TOOLS = r"""
const path = require("path");
const [root, project, config] = process.argv.slice(1);
const lib = path.join(root, "node_modules/firebase-tools/lib");
const python = require(path.join(lib, "deploy/functions/runtimes/python/index.js"));
const build = require(path.join(lib, "deploy/functions/build.js"));
const env = require(path.join(lib, "functions/env.js"));
(async () => {
  const source = path.join(root, "functions");
  const firebaseConfig = JSON.parse(config);
  const userEnvs = env.loadUserEnvs({ functionsSource: source, projectId: project, projectDir: root });
  const delegate = await python.tryCreateDelegate({ projectId: project, sourceDir: source, runtime: "python311" });
  const discovered = await delegate.discoverBuild({}, { ...userEnvs, ...env.loadFirebaseEnvs(firebaseConfig, project), GOOGLE_CLOUD_QUOTA_PROJECT: project });
  const { backend } = await build.resolveBackend({ build: discovered, firebaseConfig, userEnvs, codebase: "default", nonInteractive: true, isEmulator: false });
  process.stdout.write(JSON.stringify({ userEnvs, backend }), () => process.exit(0));
})().catch((err) => { console.error(err.message || err); process.exit(1); });
"""


def dotenv() -> dict[str, str]:
    """``functions/.env`` as firebase-tools reads it (``KEY=value`` lines, ``#`` comments)."""
    values: dict[str, str] = {}
    for line in (FUNCTIONS / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """The SDK's deploy manifest, served by its admin server as firebase-tools starts it."""
    import firebase_functions

    port = free_port()
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    environment = {k: v for k, v in os.environ.items() if k in keep}
    environment.update(dotenv())
    environment.update(
        {"FIREBASE_CONFIG": json.dumps(FIREBASE_CONFIG), "GCLOUD_PROJECT": PROJECT, "GOOGLE_CLOUD_QUOTA_PROJECT": PROJECT, "ADMIN_PORT": str(port)}
    )
    serving = Path(firebase_functions.__file__).parent / "private" / "serving.py"
    process = subprocess.Popen([str(PYTHON), str(serving)], cwd=FUNCTIONS, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/__/functions.yaml", timeout=10)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"discovery failed: {process.stderr.read().decode() if process.stderr else ''}") from None
                time.sleep(0.1)
        response.raise_for_status()
        requests.get(f"http://127.0.0.1:{port}/__/quitquitquit", timeout=5)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    return dict(yaml.safe_load(response.text))


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """What firebase-tools makes of the source in CI: its own discovery, ``.env`` loading and non-interactive param resolution."""
    out = subprocess.run(
        ["node", "-e", FIREBASE_TOOLS, str(ROOT), PROJECT, json.dumps(FIREBASE_CONFIG)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout))


def expected() -> dict[str, dict[str, Any]]:
    """The options each function must be deployed with (``gateway/deploy.py``)."""
    from gateway import deploy

    gateway_sa = "{{ params.GATEWAY_SERVICE_ACCOUNT }}"
    base = {"region": [deploy.REGION], "cpu": deploy.CPU, "concurrency": deploy.CONCURRENCY, "availableMemoryMb": int(deploy.MEMORY)}
    base |= {"timeoutSeconds": deploy.TIMEOUT_SECONDS, "serviceAccountEmail": gateway_sa}
    warm = {"minInstances": "{{ params.MIN_INSTANCES }}"}
    specific: dict[str, dict[str, Any]] = {
        "health": {"maxInstances": deploy.HEALTH_MAX_INSTANCES},
        "generate_text": {"timeoutSeconds": deploy.STREAM_TIMEOUT_SECONDS, **warm},
        "openai": {"timeoutSeconds": deploy.STREAM_TIMEOUT_SECONDS, **warm},
        "generate_image": {"timeoutSeconds": deploy.IMAGE_TIMEOUT_SECONDS, "availableMemoryMb": int(deploy.IMAGE_MEMORY), **warm},
        "providers": {"timeoutSeconds": deploy.PROVIDERS_TIMEOUT_SECONDS, "serviceAccountEmail": "{{ params.PROVIDERS_SERVICE_ACCOUNT }}"},
        SCHEDULED: {"timeoutSeconds": deploy.SWEEP_TIMEOUT_SECONDS},
    }
    return {name: {**base, **specific.get(name, {})} for name in (*HTTPS, TRIGGER, SCHEDULED)}


def test_every_function_has_the_options_we_chose(manifest) -> None:
    endpoints = manifest["endpoints"]
    assert set(endpoints) == {*HTTPS, TRIGGER, SCHEDULED}
    rows = []
    for name, want in expected().items():
        endpoint = endpoints[name]
        got = {key: endpoint.get(key) for key in want}
        assert got == want, name
        assert endpoint["platform"] == "gcfv2"
        rows.append(f"{name:<18} {endpoint['region'][0]:<12} {endpoint['timeoutSeconds']:>5} s {endpoint['availableMemoryMb']:>5} MiB "
                    f"cpu {endpoint['cpu']} concurrency {endpoint['concurrency']:>3}  sa {endpoint['serviceAccountEmail']}")
    print("\n" + "\n".join(rows))


def test_every_function_has_the_right_trigger(manifest) -> None:
    endpoints = manifest["endpoints"]
    for name in HTTPS:
        assert endpoints[name]["httpsTrigger"] == {} and "eventTrigger" not in endpoints[name] and "callableTrigger" not in endpoints[name], name
    trigger = endpoints[TRIGGER]
    assert "httpsTrigger" not in trigger
    assert trigger["eventTrigger"]["eventType"] == "google.cloud.firestore.document.v1.written"
    assert trigger["eventTrigger"]["eventFilterPathPatterns"] == {"document": "models/{modelId}"}
    assert trigger["eventTrigger"]["eventFilters"] == {"database": "(default)", "namespace": "(default)"}
    assert endpoints[SCHEDULED]["scheduleTrigger"]["schedule"] == "every 15 minutes" and "httpsTrigger" not in endpoints[SCHEDULED]


def test_deploy_enables_secret_manager(manifest, resolved) -> None:
    """firebase-tools enables the manifest's required APIs (Secret Manager is one of its standard ones: no prompt)."""
    apis = {entry["api"] for entry in manifest["requiredAPIs"]}
    assert "secretmanager.googleapis.com" in apis
    assert "secretmanager.googleapis.com" in {entry["api"] for entry in resolved["backend"]["requiredAPIs"]}


def test_dotenv_answers_every_param_and_nothing_else(manifest, resolved) -> None:
    """A param with no value makes a deploy without a terminal fail; a stale key is a forgotten rename."""
    declared = {param["name"] for param in manifest["params"]}
    values = dotenv()
    assert resolved["userEnvs"] == values  # firebase-tools reads the file as we do
    assert declared - set(values) == set(), "params missing from functions/.env"
    assert set(values) - declared == {"THREADS"}, "keys in functions/.env that are no longer params"
    for param in manifest["params"]:
        default = param.get("default")
        shown = str(default).lower() if isinstance(default, bool) else "" if default is None else str(default)  # 0 is not False here
        assert values[param["name"]] == shown, f"{param['name']}: functions/.env should hold the declared default"


def test_firebase_tools_resolves_the_backend_without_prompting(resolved) -> None:
    """What CI gets: every endpoint resolved, service accounts empty (the default one), nothing left to ask."""
    endpoints = resolved["backend"]["endpoints"]
    want = expected()
    from gateway import deploy

    assert set(endpoints) == {deploy.REGION}
    for name, endpoint in endpoints[deploy.REGION].items():
        options = want[name]
        assert endpoint["region"] == deploy.REGION
        assert endpoint["concurrency"] == options["concurrency"] and endpoint["cpu"] == options["cpu"]
        assert endpoint["availableMemoryMb"] == options["availableMemoryMb"] and endpoint["timeoutSeconds"] == options["timeoutSeconds"]
        assert endpoint["serviceAccount"] == ""  # firebase-tools sends "" as no account: the default compute service account
        if "minInstances" in options:  # the param, resolved from functions/.env: scale to zero unless a project says otherwise
            assert endpoint["minInstances"] == int(dotenv()["MIN_INSTANCES"]) == 0, name
        if "maxInstances" in options:
            assert endpoint["maxInstances"] == options["maxInstances"], name
    assert endpoints[deploy.REGION]["health"]["maxInstances"] == deploy.HEALTH_MAX_INSTANCES <= 3  # public: a flood stays small


def test_threads_match_concurrency(manifest) -> None:
    """Cloud Run sends up to ``concurrency`` requests at once; functions-framework serves ``THREADS`` at once."""
    from gateway import deploy

    assert int(dotenv()["THREADS"]) == deploy.THREADS == deploy.CONCURRENCY
    assert {endpoint["concurrency"] for endpoint in manifest["endpoints"].values()} == {deploy.CONCURRENCY}


def test_region_is_one_place_and_env_is_committed() -> None:
    import stack
    from gateway import deploy

    assert stack.REGION == deploy.REGION  # emulator URLs
    ignored = subprocess.run(["git", "check-ignore", "-q", str(FUNCTIONS / ".env")], cwd=ROOT, capture_output=True)
    assert ignored.returncode != 0, "functions/.env must be committed (firebase deploy reads it), not git-ignored"
    runtime = json.loads((ROOT / "firebase.json").read_text())["functions"][0]["runtime"]
    assert runtime == "python311" and (FUNCTIONS / "venv" / "bin" / "python3.11").exists()  # what firebase-tools runs discovery with


def test_upstream_pool_follows_the_threads(monkeypatch) -> None:
    """Every request thread (and health's probes) can keep its provider connection open between requests."""
    from gateway import deploy, upstream

    def pool() -> Any:
        upstream.close()
        try:
            return upstream.client()._transport._pool  # type: ignore[attr-defined]
        finally:
            upstream.close()

    for threads in (None, "12"):
        if threads is None:
            monkeypatch.delenv("THREADS", raising=False)
        else:
            monkeypatch.setenv("THREADS", threads)
        want = (int(threads) if threads else deploy.THREADS) + upstream.EXTRA_CONNECTIONS
        got = pool()
        assert (got._max_connections, got._max_keepalive_connections) == (want, want), threads
        assert got._keepalive_expiry >= 60


CLOUD_RUN = {"K_SERVICE": "health", "K_REVISION": "health-00001-abc", "K_CONFIGURATION": "health"}


def _start(extra: dict[str, str]) -> tuple[bool, str]:
    """Start ``health`` as Cloud Run does (functions-framework CLI) with ``extra`` in its environment: (served, its stderr)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")} | dotenv()
    environment |= {"GCLOUD_PROJECT": PROJECT, "FIREBASE_CONFIG": json.dumps(FIREBASE_CONFIG), **extra}
    cli = PYTHON.with_name("functions-framework")
    process = subprocess.Popen([str(cli), "--target", "health", "--port", str(port)], cwd=FUNCTIONS, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    served = False
    try:
        deadline = time.monotonic() + 60
        while not served and process.poll() is None and time.monotonic() < deadline:
            try:
                served = requests.get(f"http://127.0.0.1:{port}/__/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate()
    return served, stderr


@pytest.mark.parametrize("variable", ["FUNCTIONS_EMULATOR", "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
                                      "FIREBASE_STORAGE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "SECRET_MANAGER_EMULATOR_HOST"])
def test_production_refuses_emulator_settings(variable) -> None:
    """On Cloud Run, an emulator variable stops the instance at start-up, with a message naming it."""
    from gateway import deploy

    with pytest.raises(RuntimeError, match=variable):
        deploy.check_environment({**CLOUD_RUN, variable: "127.0.0.1:8080"})
    deploy.check_environment({"K_SERVICE": "health", "K_REVISION": "1", variable: "true"})  # the Functions emulator: no K_CONFIGURATION


def test_an_instance_with_emulator_settings_never_serves() -> None:
    served, stderr = _start({**CLOUD_RUN, "FUNCTIONS_EMULATOR": "true", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080"})
    assert not served
    assert "emulator settings in production: FUNCTIONS_EMULATOR, FIRESTORE_EMULATOR_HOST" in stderr
    assert _start(CLOUD_RUN)[0]  # the same instance without them starts
    assert _start({"K_SERVICE": "health", "K_REVISION": "1", "FUNCTIONS_EMULATOR": "true"})[0]  # as the Functions emulator runs it


def test_committed_env_sets_no_emulator_variable() -> None:
    from gateway import deploy

    assert not set(dotenv()) & set(deploy.EMULATOR_VARIABLES)
