"""The gateway's benchmark: every path side by side, in one run, on loopback.

    functions/venv/bin/python bench/run.py [--quick] [--install-litellm] [--no-litellm] [--profile]

Paths (each its own server process, all calling one fake upstream):
  direct      the fake OpenAI-compatible upstream (bench/upstream.py), 5 ms between streamed chunks
  floor       bench/passthrough.py: a bare ``https_fn.on_request`` that forwards the body
              (streams relayed as they come) under functions-framework's gunicorn
  gt, gt+lim  functions/main.py's ``generate_text`` edge, rate limits off / on (no budget)
  gt+bud      the same with rate limits and budgets on (a project cap far from its limit: requests
              admitted from leases, a reservation commit every fifth), as deployed by default
  oa, oa+lim, oa+bud   functions/main.py's ``openai`` edge (POST /v1/chat/completions), likewise
  litellm     LiteLLM's proxy (``litellm --config``, 1 worker, a master key, LITELLM_LOG=ERROR), when
              bench/.venv-litellm has it (``--install-litellm`` makes it)
Every gateway process runs under functions-framework as Cloud Run runs it, with
THREADS as deployed, a real Auth-emulator ID token, the registry, validation
and the usage ledger; "limiter on" adds one Firestore write per request (to
the local Firestore emulator: in production, Firestore in-region).

Phases, each interleaved in blocks (round-robin, N requests per path per
block, the order rotated every round) so that noise hits every path alike:
  1. non-streaming, concurrency 1: added latency over direct (p50/p99), requests/s,
     and the ledger commit's part of it (the gateway's ``Server-Timing``)
  1b. the same against an upstream that takes THINK_MS (20 ms) to answer: what
     the limiter costs once its write can run beside the provider's work
  2. non-streaming, concurrency 16: requests/s (and latency)
  3. streaming, concurrency 1: when the first content chunk (and the first chunk
     of any kind) reached the client minus when the upstream wrote it (each
     stream is keyed, the upstream keeps its chunk times; one shared monotonic
     clock), and the whole stream's time
  4. cold start: a new functions-framework process per try, process start to
     the first byte of a ``models`` answer and of a streamed ``generate_text``
     (and its first content), next to the floor's
  5. import time: functions/main.py (an HTTP function's instance) against
     ``firebase_functions.https_fn`` alone, fresh interpreters, interleaved
For every phase the CPU used by processes outside this bench's process tree
(/proc/stat minus the tree's /proc/<pid>/stat) is printed: a run where it is
high was a noisy one. Each server's own CPU per request is printed too.
Ends with markdown tables for docs/measured.md.

Not a test: nothing here runs under pytest or ``make test``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
FUNCTIONS = ROOT / "functions"
sys.path[:0] = [str(ROOT / "scripts"), str(FUNCTIONS), str(BENCH)]

import stack as stack_module  # noqa: E402

LITELLM_VERSION = "1.106.12"
LITELLM_VENV = BENCH / ".venv-litellm"
LITELLM_KEY = "sk-bench"
PYINSTRUMENT_VERSION = "5.1.3"
PYINSTRUMENT_DIR = BENCH / ".pyinstrument"  # pip install --target: importable by functions/venv's interpreter, outside it
CHUNK_DELAY = 0.005
THINK_MS = 20  # phase 2: the upstream's time before a non-streaming answer (a hosted model takes 100s of ms)
PROMPT = "Say something short"
MODEL_ID = "bench-chat"  # the gateway's model document
UPSTREAM_MODEL = "bench-model"  # the name the upstream (and LiteLLM's model list) knows
MAX_TOKENS = 64
NCPU = os.cpu_count() or 1
CLK = os.sysconf("SC_CLK_TCK")


def now() -> float:
    """CLOCK_MONOTONIC: the clock bench/upstream.py stamps its chunks with (one clock for every process)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# -- statistics ---------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b and b == b and b > 0 else float("nan")


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


# -- CPU accounting ---------------------------------------------------------------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """(busy CPU-seconds of the whole machine excluding steal, steal CPU-seconds) since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLK, steal / CLK


def process_cpu(pid: int) -> float | None:
    """CPU-seconds of a live process and of its children it has reaped; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15]) / CLK


def tree(pid: int) -> list[int]:
    return [pid, *stack_module.descendants(pid)]


class CpuSet:
    """The CPU of a fixed set of processes; a process that exits keeps its last reading (no drop)."""

    def __init__(self, pids: list[int]) -> None:
        self.last = {pid: process_cpu(pid) or 0.0 for pid in pids}

    def total(self) -> float:
        for pid in self.last:
            value = process_cpu(pid)
            if value is not None:
                self.last[pid] = value
        return sum(self.last.values())


@dataclass
class Noise:
    """CPU used during a phase by everything outside this bench's process tree."""

    name: str
    wall: float = 0.0
    other: float = 0.0
    steal: float = 0.0
    ours: float = 0.0

    def line(self) -> str:
        share = 100 * self.other / (self.wall * NCPU) if self.wall else float("nan")
        steal = f", steal {self.steal:.2f} s" if self.steal >= 0.05 else ""
        return (f"{self.name}: {self.wall:.1f} s wall; other processes {self.other:.2f} CPU-s ({share:.0f}% of {NCPU} cores){steal}; "
                f"this bench's processes {self.ours:.1f} CPU-s")


class Phase:
    """``with Phase(name) as noise:`` records :class:`Noise` for the block inside."""

    log: list[Noise] = []

    def __init__(self, name: str) -> None:
        self.noise = Noise(name)

    def __enter__(self) -> Noise:
        self.pids = CpuSet(tree(os.getpid()))
        self.start = (time.monotonic(), *machine_cpu(), self.pids.total())
        return self.noise

    def __exit__(self, *exc: object) -> None:
        wall, busy, steal, ours = self.start
        # processes started during the phase and still alive belong to us too (cold starts are reaped before the end)
        late = CpuSet([pid for pid in tree(os.getpid()) if pid not in self.pids.last])
        end_busy, end_steal = machine_cpu()
        ours_now = self.pids.total() + late.total()
        self.noise.wall = time.monotonic() - wall
        self.noise.ours = ours_now - ours
        self.noise.other = max(0.0, (end_busy - busy) - self.noise.ours)
        self.noise.steal = end_steal - steal
        Phase.log.append(self.noise)
        print(f"  [{self.noise.line()}]", flush=True)


# -- processes --------------------------------------------------------------------------------------------------------


class Failed(RuntimeError):
    pass


def kill_tree(process: subprocess.Popen[Any]) -> None:
    """SIGTERM first (gunicorn then stops and reaps its worker, whose CPU so stays in this bench's accounts), SIGKILL after 5 s."""
    pids = {pid: stack_module.cmdline(pid) for pid in tree(process.pid)}
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for pid, line in pids.items():
        if line is not None and stack_module.cmdline(pid) == line:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    process.wait()


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    pids: list[int] = field(default_factory=list)

    def wait_ready(self, probe: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
                raise Failed(f"{self.name} exited with {self.process.returncode} before answering "
                             f"(an import error while functions/ is being edited? wait a minute and retry):\n{tail}")
            try:
                httpx.get(self.url + probe, timeout=2)
                self.pids = tree(self.process.pid)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise Failed(f"{self.name} did not answer within {timeout:.0f} s (log {self.log})")


def ff_command(target: str, source: Path, port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("functions-framework")), "--target", target, "--source", str(source), "--port", str(port)]


def ff_env(target: str, env: dict[str, str]) -> dict[str, str]:
    from gateway import deploy

    return {**os.environ, "THREADS": str(deploy.THREADS), **env, "FUNCTION_TARGET": target}  # THREADS as deployed, for the floor too


def spawn_ff(name: str, target: str, source: Path, env: dict[str, str], logs: Path) -> Server:
    port = stack_module.free_port()
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(ff_command(target, source, port), cwd=source.parent, env=ff_env(target, env),
                                   stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL)
    return Server(name, process, f"http://127.0.0.1:{port}", log)


def litellm_bin() -> Path | None:
    exe = LITELLM_VENV / "bin" / "litellm"
    return exe if exe.exists() else None


def install_litellm() -> None:
    print(f"Installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV.relative_to(ROOT)} ...", flush=True)
    if not (LITELLM_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)


def profile(token: str, env: dict[str, str], logs: Path, requests: int) -> None:
    """pyinstrument over in-process requests of both edges (bench/profile_gateway.py); the top of each tree is printed."""
    if not (PYINSTRUMENT_DIR / "pyinstrument").is_dir():
        print(f"Installing pyinstrument=={PYINSTRUMENT_VERSION} into {PYINSTRUMENT_DIR.relative_to(ROOT)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(PYINSTRUMENT_DIR), f"pyinstrument=={PYINSTRUMENT_VERSION}"], check=True)
    for target, stream in (("generate_text", False), ("openai", False), ("generate_text", True)):
        name = f"profile-{target}{'-stream' if stream else ''}"
        command = [sys.executable, str(BENCH / "profile_gateway.py"), "--target", target, "--token", token, "--requests", str(requests),
                   "--out", str(logs / f"{name}.txt"), "--html", str(logs / f"{name}.html")] + (["--stream"] if stream else [])
        full = {**os.environ, **env, "FUNCTION_TARGET": target, "RATE_LIMITS_ENABLED": "false", "PYTHONPATH": str(PYINSTRUMENT_DIR)}
        out = subprocess.run(command, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=FUNCTIONS)
        if out.returncode != 0:
            print(f"  profile of {target} failed:\n{out.stderr[-1500:]}")
            continue
        lines = (logs / f"{name}.txt").read_text().splitlines()
        print(f"\n  {lines[0]}\n  (full tree: {logs / name}.txt, {logs / name}.html)")
        print("\n".join("    " + line for line in lines[1:70] if line.strip()))


def spawn_litellm(upstream_url: str, logs: Path) -> Server:
    exe = litellm_bin()
    assert exe is not None
    config = logs / "litellm.yaml"
    config.write_text(textwrap.dedent(f"""\
        model_list:
          - model_name: {UPSTREAM_MODEL}
            litellm_params:
              model: openai/{UPSTREAM_MODEL}
              api_base: {upstream_url}/v1
              api_key: sk-upstream
        general_settings:
          master_key: {LITELLM_KEY}
        """))
    port = stack_module.free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
    for var in ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"):
        env.pop(var, None)
    log = logs / "litellm.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                                   cwd=logs, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Server("litellm", process, f"http://127.0.0.1:{port}", log)


def setup_gateway(upstream_url: str) -> str:
    """Provider and model documents for the fake, generous limits, and a signed-in user's ID token."""
    from firebase_admin import auth

    from gateway import firebase

    db = firebase.db()
    db.collection("providers").document("bench").set({"type": "openai-compatible", "baseUrl": f"{upstream_url}/v1", "enabled": True})
    db.collection("models").document(MODEL_ID).set(
        {"name": UPSTREAM_MODEL, "provider": "bench", "type": "text", "enabled": True,
         "config": {"maxTokens": MAX_TOKENS, "maxTokensLimit": 4096}, "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6}}
    )
    # No per-role quotas: "+bud" paths get their budget from PROJECT_DAILY_COST_USD, the others none.
    db.collection("config").document("limits").set({"perMinute": {"generate_text": 10**9, "openai": 10**9}, "quotas": {}})
    user = auth.create_user(email="bench@test.example", password="bench-password", app=firebase.app())
    auth.set_custom_user_claims(user.uid, {"role": "user"}, app=firebase.app())
    response = httpx.post(
        f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=bench",
        json={"email": "bench@test.example", "password": "bench-password", "returnSecureToken": True},
    )
    return str(response.json()["idToken"])


# -- paths ------------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    key: str
    label: str
    url: str
    headers: dict[str, str]
    shape: str  # "openai": OpenAI's request and chunks; "gt": generate_text's
    model: str
    server: Server | None  # whose CPU is this path's
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)))
    # results
    c1: list[float] = field(default_factory=list)
    c1_rates: list[float] = field(default_factory=list)
    c1_ledger: list[float] = field(default_factory=list)  # per c1 request: the ledger commit's ms (Server-Timing), 0 if none
    slow: list[float] = field(default_factory=list)  # c=1 against an upstream that thinks THINK_MS before answering
    c16: list[float] = field(default_factory=list)
    c16_rates: list[float] = field(default_factory=list)
    streams: list[dict[str, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # phase -> server CPU-seconds spent in this path's blocks
    emulator_cpu: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def body(self, stream: bool, key: str = "0", think_ms: int = 0) -> dict[str, Any]:
        prompt = f"{PROMPT} bench-key-{key}" + (f" bench-think-{think_ms}" if think_ms else "")
        if self.shape == "gt":
            body: dict[str, Any] = {"modelId": self.model, "prompt": prompt, "maxTokens": MAX_TOKENS}
            if stream:
                body["stream"] = True
            return body
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": MAX_TOKENS}
        if stream:  # as the gateway asks its providers: the upstream sends the same chunks on every path
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def call(self, ledger: list[float] | None = None, think_ms: int = 0) -> float:
        """One non-streaming request's time (ms); ``ledger`` gets what its ledger commit took (the gateway's Server-Timing)."""
        started = time.perf_counter()
        response = self.client.post(self.url, json=self.body(False, think_ms=think_ms), headers=self.headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise Failed(f"{self.key}: HTTP {response.status_code}: {response.text[:400]}")
        if ledger is not None:
            timing = dict(part.strip().partition(";dur=")[::2] for part in response.headers.get("Server-Timing", "").split(",") if part)
            ledger.append(float(timing.get("ledger", 0.0)))
        return elapsed


def content_line(line: str) -> bool:
    compact = line.replace(" ", "")
    return '"content":"' in compact and '"content":""' not in compact


def stream_once(path: Target, upstream: httpx.Client, upstream_url: str) -> dict[str, float]:
    key = uuid.uuid4().hex
    first_any = first_content = None
    started = now()
    with path.client.stream("POST", path.url, json=path.body(True, key), headers=path.headers) as response:
        if response.status_code != 200:
            response.read()
            raise Failed(f"{path.key} stream: HTTP {response.status_code}: {response.text[:400]}")
        for line in response.iter_lines():
            at = now()
            if not line.startswith("data:"):
                continue
            if first_any is None:
                first_any = at
            if first_content is None and content_line(line):
                first_content = at
    ended = now()
    chunks = upstream.get(f"{upstream_url}/bench/streams/{key}").json()["chunks"]
    sent_first = chunks[0][0]
    sent_content = next(t for t, kind in chunks if kind == "content")
    if first_any is None or first_content is None:
        raise Failed(f"{path.key} stream: no content chunk reached the client")
    return {
        "ttfb": (first_any - started) * 1000,  # request start -> first data line
        "ttfc": (first_content - started) * 1000,  # request start -> first content
        # client got its first chunk - upstream wrote its first (generate_text has no role chunk: its first is the content)
        "lag_any": (first_any - sent_first) * 1000 if path.shape == "openai" else float("nan"),
        "lag_content": (first_content - sent_content) * 1000,  # client got the first content - upstream wrote it
        "total": (ended - started) * 1000,
        "end_lag": (ended - chunks[-1][0]) * 1000,
        "chunks": len(chunks),
    }


# -- phases -----------------------------------------------------------------------------------------------------------


def blocks(paths: list[Target], rounds: int, run_block: Callable[[Target], None], phase: str, emulator: CpuSet | None) -> None:
    """Round-robin: one block per path per round, the starting path rotated every round."""
    for number in range(rounds):
        shift = number % len(paths)
        for path in paths[shift:] + paths[:shift]:
            server = CpuSet(path.server.pids) if path.server else None
            before = (server.total() if server else 0.0, emulator.total() if emulator else 0.0)
            run_block(path)
            path.cpu[phase] = path.cpu.get(phase, 0.0) + ((server.total() - before[0]) if server else 0.0)
            path.emulator_cpu[phase] = path.emulator_cpu.get(phase, 0.0) + ((emulator.total() - before[1]) if emulator else 0.0)


def phase_sequential(paths: list[Target], rounds: int, size: int, emulator: CpuSet | None) -> None:
    def run(path: Target) -> None:
        for _ in range(2):  # untimed: reopen the keep-alive connection the server may have closed while idle
            path.call()
        started = time.perf_counter()
        path.c1.extend(path.call(path.c1_ledger) for _ in range(size))
        path.c1_rates.append(size / (time.perf_counter() - started))
        path.count["c1"] = path.count.get("c1", 0) + size + 2

    blocks(paths, rounds, run, "c1", emulator)


def phase_thinking(paths: list[Target], rounds: int, size: int, emulator: CpuSet | None) -> None:
    """Concurrency 1 against an upstream that takes THINK_MS to answer: the limiter's write can hide behind it."""
    def run(path: Target) -> None:
        path.call(think_ms=THINK_MS)  # untimed, as above
        path.slow.extend(path.call(think_ms=THINK_MS) for _ in range(size))
        path.count["slow"] = path.count.get("slow", 0) + size + 1

    blocks(paths, rounds, run, "slow", emulator)


def phase_concurrent(paths: list[Target], rounds: int, size: int, concurrency: int, emulator: CpuSet | None) -> None:
    with ThreadPoolExecutor(concurrency) as pool:

        def run(path: Target) -> None:
            list(pool.map(lambda _: path.call(), range(concurrency)))  # untimed: open the connections
            started = time.perf_counter()
            times = list(pool.map(lambda _: path.call(), range(size)))
            path.c16_rates.append(size / (time.perf_counter() - started))
            path.c16.extend(times)
            path.count["c16"] = path.count.get("c16", 0) + size + concurrency

        blocks(paths, rounds, run, "c16", emulator)


def phase_streams(paths: list[Target], rounds: int, size: int, upstream_url: str, emulator: CpuSet | None) -> None:
    upstream = httpx.Client(timeout=10)

    def run(path: Target) -> None:
        stream_once(path, upstream, upstream_url)  # untimed, as above
        path.streams.extend(stream_once(path, upstream, upstream_url) for _ in range(size))
        path.count["stream"] = path.count.get("stream", 0) + size + 1

    blocks(paths, rounds, run, "stream", emulator)


@dataclass
class Cold:
    label: str
    first_byte: list[float] = field(default_factory=list)
    first_content: list[float] = field(default_factory=list)


def cold_start(kind: str, target: str, source: Path, env: dict[str, str], request: dict[str, Any], logs: Path, result: Cold) -> None:
    """A new functions-framework process; process start to the first byte (and first content) of one answer."""
    port = stack_module.free_port()
    url = f"http://127.0.0.1:{port}/"
    log = logs / f"cold-{kind}.log"
    client = httpx.Client(timeout=30)
    with log.open("wb") as out:
        started = now()
        process = subprocess.Popen(ff_command(target, source, port), cwd=source.parent, env=ff_env(target, env),
                                   stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL)
    try:
        deadline = started + 60
        while True:
            if process.poll() is not None or now() > deadline:
                raise Failed(f"cold start of {kind}: the process exited or never answered (log {log}):\n"
                             + log.read_text(errors="replace")[-2000:])
            try:
                with client.stream(**request, url=url) as response:
                    first = now()  # the status line and headers: the answer's first bytes
                    if response.status_code != 200:
                        response.read()
                        raise Failed(f"cold start of {kind}: HTTP {response.status_code}: {response.text[:300]}")
                    for line in response.iter_lines() if request.get("json", {}).get("stream") else ():
                        if content_line(line):
                            result.first_content.append((now() - started) * 1000)
                            break
                    result.first_byte.append((first - started) * 1000)
                    break
            except httpx.ConnectError:
                time.sleep(0.002)
    finally:
        client.close()
        kill_tree(process)


IMPORT_PROBE = "import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"


def import_times(runs: int) -> dict[str, list[float]]:
    """Fresh interpreters, interleaved: the SDK's https_fn alone, the floor's module, and main.py for an HTTP function."""
    base = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    probes = {
        "https_fn": ("from firebase_functions import https_fn", FUNCTIONS, base),
        "floor": ("import passthrough", BENCH, base),
        "main (generate_text)": ("import main", FUNCTIONS, {**base, "FUNCTION_TARGET": "generate_text"}),
        "main (models)": ("import main", FUNCTIONS, {**base, "FUNCTION_TARGET": "models"}),
    }
    times: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(runs):
        for name, (statement, cwd, env) in probes.items():
            out = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(statement=statement)], cwd=cwd, env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise Failed(f"import {name} failed:\n{out.stderr[-2000:]}")
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    return times


# -- report -----------------------------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{NCPU} cores, {model}, Linux {platform.release()}, Python {platform.python_version()}"


def report(paths: dict[str, Target], colds: list[Cold], imports: dict[str, list[float]], args: argparse.Namespace, litellm_note: str) -> None:
    direct, floor = paths["direct"], paths["floor"]
    ll = paths.get("litellm")
    order = list(paths.values())

    def added(path: Target, samples: str, q: float) -> float:
        return pct(getattr(path, samples), q) - pct(getattr(direct, samples), q)

    def limiter_cost(path: Target, samples: str) -> float:
        """Limiter on minus off (p50), the same edge."""
        return pct(getattr(path, samples), .5) - pct(getattr(paths[path.key.removesuffix("+lim")], samples), .5)

    def budget_cost(path: Target, samples: str, against: str = "+lim") -> float:
        """Budgets on (with the limiter) minus the same edge with the limiter only (or with nothing: ``against=""``), p50."""
        return pct(getattr(path, samples), .5) - pct(getattr(paths[path.key.removesuffix("+bud") + against], samples), .5)

    def added_without_ledger(path: Target) -> float:
        return pct([t - spent for t, spent in zip(path.c1, path.c1_ledger, strict=True)], .5) - pct(direct.c1, .5)

    def cpu_per(path: Target, phase: str, emulator: bool = False) -> float:
        spent = (path.emulator_cpu if emulator else path.cpu).get(phase, 0.0)
        return 1000 * spent / path.count[phase] if path.count.get(phase) else float("nan")

    print("\n== Non-streaming (ms; 'added' = this path's percentile minus direct's) ==")
    head = f"  {'path':<9}{'p50':>8}{'p99':>8}{'+p50':>8}{'+p99':>8}{'xfloor':>8}{'req/s':>8}{'block req/s range':>22}"
    for label, samples, rates in (("concurrency 1", "c1", "c1_rates"), ("concurrency 16", "c16", "c16_rates")):
        print(f" {label}, {len(getattr(direct, samples))} requests per path:")
        print(head)
        for path in order:
            values = getattr(path, samples)
            a50 = added(path, samples, .5)
            block_rates = getattr(path, rates)
            xfloor = "" if path is direct else fmt(ratio(a50, added(floor, samples, .5)))
            print(f"  {path.key:<9}{pct(values, .5):8.2f}{pct(values, .99):8.2f}{a50:8.2f}{added(path, samples, .99):8.2f}"
                  f"{xfloor:>8}{med(block_rates):8.0f}"
                  f"{'':>10}{min(block_rates):5.0f}-{max(block_rates):<5.0f}")
    print(" c=1 without the ledger commit (each request's time minus its Server-Timing ledger part; the floor writes none):")
    for path in order:
        if any(path.c1_ledger):
            print(f"  {path.key:<9} ledger commit p50 {pct(path.c1_ledger, .5):.2f}  added without it p50 {added_without_ledger(path):.2f}"
                  f"  xfloor {fmt(ratio(added_without_ledger(path), added(floor, 'c1', .5)))}")
    print(f" concurrency 1, the upstream thinking {THINK_MS} ms, {len(direct.slow)} requests per path (the limiter's cost: on minus off):")
    for path in order:
        line = f"  {path.key:<9} p50 {pct(path.slow, .5):7.2f}  added p50 {pct(path.slow, .5) - pct(direct.slow, .5):6.2f}"
        if path.key.endswith("+lim"):
            line += f"  limiter cost p50 {limiter_cost(path, 'slow'):+.2f} (with an instant upstream {limiter_cost(path, 'c1'):+.2f})"
        if path.key.endswith("+bud"):
            line += (f"  budgets cost p50 {budget_cost(path, 'slow'):+.2f} over the limiter, {budget_cost(path, 'slow', ''):+.2f} over neither"
                     f" (instant upstream {budget_cost(path, 'c1'):+.2f} / {budget_cost(path, 'c1', ''):+.2f})")
        print(line)
    print(" server CPU per request (ms; the emulator's for the ledger and limiter writes apart):")
    for path in order:
        if path.server is None:
            continue
        print(f"  {path.key:<9} c=1 {fmt(cpu_per(path, 'c1'))}  c=16 {fmt(cpu_per(path, 'c16'))}  stream {fmt(cpu_per(path, 'stream'))}"
              f"   emulator c=1 {fmt(cpu_per(path, 'c1', True))}")

    print(f"\n== Streaming, {CHUNK_DELAY * 1000:.0f} ms between upstream chunks, {len(direct.streams)} streams per path (p50, ms) ==")
    print(f"  {'path':<9}{'content lag':>12}{'any lag':>9}{'ttfb':>8}{'ttfc':>8}{'whole':>8}{'+whole':>8}{'end lag':>9}{'chunks':>8}")
    stats: dict[str, dict[str, float]] = {}
    for path in order:
        s = {name: pct([x[name] for x in path.streams], .5) for name in ("lag_content", "lag_any", "ttfb", "ttfc", "total", "end_lag", "chunks")}
        stats[path.key] = s
    for path in order:
        s = stats[path.key]
        print(f"  {path.key:<9}{s['lag_content']:12.2f}{fmt(s['lag_any']):>9}{s['ttfb']:8.2f}{s['ttfc']:8.2f}{s['total']:8.2f}"
              f"{s['total'] - stats['direct']['total']:8.2f}{s['end_lag']:9.2f}{s['chunks']:8.0f}")
    print("  content lag: the client saw the first content chunk this long after the upstream wrote it; any lag: the same for the\n"
          "  first chunk of any kind (the role delta on OpenAI-shaped paths; generate_text sends none); ttfb/ttfc: from the\n"
          "  request's start; whole: start to the stream's end; end lag: the end at the client after the upstream's last write.")

    print("\n== Cold start: process start to the answer (ms; new functions-framework process per try) ==")
    for cold in colds:
        line = f"  {cold.label:<44} first byte best {fmt(min(cold.first_byte), 0):>5}  median {fmt(med(cold.first_byte), 0):>5}"
        if cold.first_content:
            line += f"   first content best {fmt(min(cold.first_content), 0)}  median {fmt(med(cold.first_content), 0)}"
        print(line)
    print("\n== Import in a fresh interpreter (ms) ==")
    base = min(imports["https_fn"])
    for name, times in imports.items():
        print(f"  {name:<22} best {min(times):6.1f}  median {med(times):6.1f}   best / https_fn best {min(times) / base:5.2f}x")

    print("\n== Noise: CPU used by other processes during each phase ==")
    for noise in Phase.log:
        print("  " + noise.line())

    # ---- markdown ----
    today = datetime.date.today().isoformat()
    n1, n16, ns = len(direct.c1), len(direct.c16), len(direct.streams)
    print("\n---- markdown for docs/measured.md ----\n")
    print(f"`functions/venv/bin/python bench/run.py{' --quick' if args.quick else ''}`, one run, {today}, on {machine()}; "
          f"loopback, paths interleaved in blocks ({n1} requests per path at c=1, {n16} at c=16, {ns} streams).\n")
    cols = ("| path | added p50 / p99 ms, c=1 | × floor (p50 / p99) | added p50 / p99 ms, c=16 | × floor (p50 / p99) "
            "| req/s c=1 / c=16 | × floor req/s |")
    sep = "|---|---|---|---|---|---|---|"
    if ll:
        cols += " × LiteLLM (added p50 c=1 / req/s c=16) |"
        sep += "---|"
    print(cols)
    print(sep)
    for path in order:
        rates = f"{med(path.c1_rates):.0f} / {med(path.c16_rates):.0f}"
        if path is direct:
            row = (f"| {path.label} | p50 {pct(path.c1, .5):.2f} / p99 {pct(path.c1, .99):.2f} (absolute) | "
                   f"| p50 {pct(path.c16, .5):.2f} / p99 {pct(path.c16, .99):.2f} (absolute) | | {rates} | |")
        else:
            row = f"| {path.label} |"
            for samples in ("c1", "c16"):
                a50, a99 = added(path, samples, .5), added(path, samples, .99)
                r50, r99 = ratio(a50, added(floor, samples, .5)), ratio(a99, added(floor, samples, .99))
                row += f" {a50:.2f} / {a99:.2f} | {fmt(r50)} / {fmt(r99)} |"
            rr1 = ratio(med(path.c1_rates), med(floor.c1_rates))
            rr16 = ratio(med(path.c16_rates), med(floor.c16_rates))
            row += f" {rates} | {fmt(rr1)} / {fmt(rr16)} |"
        if ll:
            if path is direct:
                row += " |"
            else:
                row += f" {fmt(ratio(added(path, 'c1', .5), added(ll, 'c1', .5)))} / {fmt(ratio(med(path.c16_rates), med(ll.c16_rates)))} |"
        print(row)
    ledgered = [path for path in order if any(path.c1_ledger)]
    if ledgered:
        print("\nThe ledger commit's part of each gateway request at c=1 (its `Server-Timing: ledger`), and the added latency "
              "without it (each request's time minus that part; p50):\n")
        print("| path | ledger commit p50 ms | added without it p50 ms | × floor |")
        print("|---|---|---|---|")
        for path in ledgered:
            print(f"| {path.label} | {pct(path.c1_ledger, .5):.2f} | {added_without_ledger(path):.2f} | "
                  f"{fmt(ratio(added_without_ledger(path), added(floor, 'c1', .5)))} |")
    limited = [path for path in order if path.key.endswith("+lim")]
    if limited:
        print(f"\nWhat the limiter costs (p50 ms, limiter on minus off, same edge): with the instant upstream above, and with "
              f"one that takes {THINK_MS} ms to answer, which its Firestore write can run beside:\n")
        print(f"| edge | instant upstream | {THINK_MS} ms upstream |")
        print("|---|---|---|")
        for path in limited:
            print(f"| {path.label.split(',')[0]} | {limiter_cost(path, 'c1'):+.2f} | {limiter_cost(path, 'slow'):+.2f} |")
    budgeted = [path for path in order if path.key.endswith("+bud")]
    if budgeted:
        print(f"\nWhat budgets cost (p50 ms, same edge), far from every limit: four requests in five are admitted from a lease "
              f"(their record and the rate-limit count written beside the provider call), the fifth reserves before it and takes the "
              f"next lease; JSON answers are settled after they are sent. Over the limiter alone and over neither, with the instant "
              f"upstream and one that takes {THINK_MS} ms. Firestore writes per request: none 3 (ledger), limiter 4, budgets 6 "
              f"(2 beside the call, 4 to settle; 8 when a lease is taken).\n")
        print(f"| edge | over the limiter, instant | over the limiter, {THINK_MS} ms | over neither, instant | over neither, {THINK_MS} ms |")
        print("|---|---|---|---|---|")
        for path in budgeted:
            print(f"| {path.label.split(',')[0]} | {budget_cost(path, 'c1'):+.2f} | {budget_cost(path, 'slow'):+.2f} | "
                  f"{budget_cost(path, 'c1', ''):+.2f} | {budget_cost(path, 'slow', ''):+.2f} |")
    print(f"\nStreaming, {CHUNK_DELAY * 1000:.0f} ms between upstream chunks (p50, ms): the first content chunk at the client after the "
          "upstream wrote it; the first chunk of any kind likewise; the whole stream, added over direct.\n")
    print("| path | first content after upstream | vs floor | first chunk after upstream | whole stream added |")
    print("|---|---|---|---|---|")
    for path in order:
        s = stats[path.key]
        vs = "" if path in (direct, floor) else f"{s['lag_content'] - stats['floor']['lag_content']:+.2f}"
        first = "(none: content first)" if path.shape == "gt" else f"{s['lag_any']:.2f}"
        print(f"| {path.label} | {s['lag_content']:.2f} | {vs} | {first} | {s['total'] - stats['direct']['total']:.2f} |")
    print("\n| cold start and import (ms) | best | median |")
    print("|---|---|---|")
    for cold in colds:
        print(f"| {cold.label}: process start to first byte | {min(cold.first_byte):.0f} | {med(cold.first_byte):.0f} |")
        if cold.first_content:
            print(f"| {cold.label}: process start to first content | {min(cold.first_content):.0f} | {med(cold.first_content):.0f} |")
    for name, times in imports.items():
        tail = "" if name == "https_fn" else f" ({min(times) / base:.2f}× https_fn)"
        label = "`from firebase_functions import https_fn` alone" if name == "https_fn" else (
            "the floor's module (`bench/passthrough.py`)" if name == "floor" else f"`functions/main.py`, FUNCTION_TARGET={name[6:-1]}")
        print(f"| import {label}{tail} | {min(times):.0f} | {med(times):.0f} |")
    worst = max(Phase.log, key=lambda n: n.other / max(n.wall, 1e-9))
    print("\nOther processes' CPU during the run: " + "; ".join(
        f"{n.name} {100 * n.other / (n.wall * NCPU):.0f}%" for n in Phase.log) + f" of {NCPU} cores (noisiest: {worst.name})."
          + (f" {litellm_note}" if litellm_note else ""))


# -- main -------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests: ~1-2 minutes, for iteration")
    parser.add_argument("--install-litellm", action="store_true", help=f"pip install litellm[proxy]=={LITELLM_VERSION} into bench/.venv-litellm first")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out even when installed")
    parser.add_argument("--profile", action="store_true",
                        help=f"also profile both edges in-process with pyinstrument (installs pyinstrument=={PYINSTRUMENT_VERSION} into bench/.pyinstrument)")
    args = parser.parse_args()
    if args.quick:
        plan = {"c1": (4, 40), "slow": (2, 15), "c16": (2, 160), "stream": (3, 8), "cold": 2, "imports": 3}
    else:
        plan = {"c1": (20, 50), "slow": (8, 25), "c16": (6, 320), "stream": (15, 10), "cold": 5, "imports": 7}

    if args.install_litellm:
        install_litellm()
    litellm_note = ""
    use_litellm = not args.no_litellm and litellm_bin() is not None
    if not use_litellm:
        litellm_note = ("LiteLLM: skipped (--no-litellm)." if args.no_litellm
                        else "LiteLLM: skipped: LiteLLM not installed (run with --install-litellm).")
        print(litellm_note)

    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    running = stack_module.Stack(fresh_ports=True, emulators=("auth", "firestore"))
    servers: list[Server] = []
    processes: list[subprocess.Popen[Any]] = []
    started = time.monotonic()
    try:
        print(f"Starting the Auth and Firestore emulators, the upstream{', LiteLLM' if use_litellm else ''} (logs in {logs}) ...", flush=True)
        upstream = subprocess.Popen([sys.executable, str(BENCH / "upstream.py"), "--chunk-delay", str(CHUNK_DELAY)],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        processes.append(upstream)
        assert upstream.stdout is not None
        upstream_url = upstream.stdout.readline().decode().strip()
        litellm = spawn_litellm(upstream_url, logs) if use_litellm else None  # slow to start: first
        if litellm:
            servers.append(litellm)
        running.start()
        os.environ.update(running.env)
        token = setup_gateway(upstream_url)
        main_py = FUNCTIONS / "main.py"
        floor = spawn_ff("floor", "passthrough", BENCH / "passthrough.py", {"UPSTREAM_URL": f"{upstream_url}/v1/chat/completions"}, logs)
        off, on = {"PROJECT_DAILY_COST_USD": ""}, {"PROJECT_DAILY_COST_USD": "1000000"}
        gateways = {
            "gt": spawn_ff("gt", "generate_text", main_py, {**running.env, "RATE_LIMITS_ENABLED": "false", **off}, logs),
            "gt+lim": spawn_ff("gt+lim", "generate_text", main_py, {**running.env, "RATE_LIMITS_ENABLED": "true", **off}, logs),
            "gt+bud": spawn_ff("gt+bud", "generate_text", main_py, {**running.env, "RATE_LIMITS_ENABLED": "true", **on}, logs),
            "oa": spawn_ff("oa", "openai", main_py, {**running.env, "RATE_LIMITS_ENABLED": "false", **off}, logs),
            "oa+lim": spawn_ff("oa+lim", "openai", main_py, {**running.env, "RATE_LIMITS_ENABLED": "true", **off}, logs),
            "oa+bud": spawn_ff("oa+bud", "openai", main_py, {**running.env, "RATE_LIMITS_ENABLED": "true", **on}, logs),
        }
        servers += [floor, *gateways.values()]
        for server in list(servers):
            try:
                server.wait_ready("/health/liveliness" if server is litellm else "/__/health", timeout=120)
            except Failed as exc:
                if server is not litellm:
                    raise
                litellm_note = f"LiteLLM: skipped: its proxy did not start (log {server.log})."
                print(f"{litellm_note}\n{exc}", flush=True)
                kill_tree(server.process)
                servers.remove(server)
                litellm = None
        print(f"Ready in {time.monotonic() - started:.1f} s.", flush=True)

        auth = {"Authorization": f"Bearer {token}"}
        upstream_server = Server("upstream", upstream, upstream_url, logs / "upstream.log")
        upstream_server.pids = tree(upstream.pid)
        labels = {
            "gt": "gateway `generate_text`, limiter off", "gt+lim": "gateway `generate_text`, limiter on (Firestore emulator)",
            "gt+bud": "gateway `generate_text`, limiter and budgets on (the default)",
            "oa": "gateway `openai`, limiter off", "oa+lim": "gateway `openai`, limiter on (Firestore emulator)",
            "oa+bud": "gateway `openai`, limiter and budgets on (the default)",
        }
        paths: dict[str, Target] = {
            "direct": Target("direct", "direct (fake upstream)", f"{upstream_url}/v1/chat/completions", {}, "openai", UPSTREAM_MODEL, None),
            "floor": Target("floor", "floor: bare `https_fn.on_request` pass-through", floor.url, {}, "openai", UPSTREAM_MODEL, floor),
        }
        for key, server in gateways.items():
            url = server.url + ("/v1/chat/completions" if key.startswith("oa") else "/")
            paths[key] = Target(key, labels[key], url, auth, "openai" if key.startswith("oa") else "gt", MODEL_ID, server)
        if litellm:
            paths["litellm"] = Target("litellm", f"LiteLLM {LITELLM_VERSION} proxy, 1 worker", f"{litellm.url}/v1/chat/completions",
                                     {"Authorization": f"Bearer {LITELLM_KEY}"}, "openai", UPSTREAM_MODEL, litellm)
        order = list(paths.values())
        emulator = CpuSet(tree(running.process.pid)) if running.process else None

        print("Warming up every path ...", flush=True)
        upstream_client = httpx.Client(timeout=10)
        for _ in range(30):
            for path in order:
                path.call()
        for _ in range(3):
            for path in order:
                stream_once(path, upstream_client, upstream_url)

        rounds, size = plan["c1"]
        print(f"\nPhase 1: non-streaming, concurrency 1 ({rounds} rounds of {size} per path) ...", flush=True)
        with Phase("c=1"):
            phase_sequential(order, rounds, size, emulator)
        rounds, size = plan["slow"]
        print(f"Phase 1b: non-streaming, concurrency 1, the upstream thinking {THINK_MS} ms ({rounds} rounds of {size} per path) ...", flush=True)
        with Phase(f"c=1, {THINK_MS} ms upstream"):
            phase_thinking(order, rounds, size, emulator)
        rounds, size = plan["c16"]
        print(f"Phase 2: non-streaming, concurrency 16 ({rounds} rounds of {size} per path) ...", flush=True)
        with Phase("c=16"):
            phase_concurrent(order, rounds, size, 16, emulator)
        rounds, size = plan["stream"]
        print(f"Phase 3: streaming ({rounds} rounds of {size} streams per path) ...", flush=True)
        with Phase("streaming"):
            phase_streams(order, rounds, size, upstream_url, emulator)

        for server in servers:  # quiet machine for the cold starts and imports
            kill_tree(server.process)
        servers.clear()
        print(f"Phase 4: cold starts ({plan['cold']} tries each, interleaved) ...", flush=True)
        gateway_env = {**running.env, "RATE_LIMITS_ENABLED": "false"}
        floor_env = {"UPSTREAM_URL": f"{upstream_url}/v1/chat/completions"}
        stream_body = {"modelId": MODEL_ID, "prompt": f"{PROMPT} bench-key-cold", "maxTokens": MAX_TOKENS, "stream": True}
        floor_body = {"model": UPSTREAM_MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS}
        colds = [
            (Cold("floor, non-streaming POST"), "floor", "passthrough", BENCH / "passthrough.py", floor_env,
             {"method": "POST", "json": floor_body}),
            (Cold("`models` (GET, signed in)"), "models", "models", main_py, gateway_env,
             {"method": "GET", "headers": auth}),
            (Cold("floor, streamed"), "floor-stream", "passthrough", BENCH / "passthrough.py", floor_env,
             {"method": "POST", "json": {**floor_body, "stream": True, "stream_options": {"include_usage": True}}}),
            (Cold("`generate_text`, streamed"), "gt-stream", "generate_text", main_py, gateway_env,
             {"method": "POST", "json": stream_body, "headers": auth}),
        ]
        with Phase("cold start"):
            for _ in range(plan["cold"]):
                for cold, kind, target, source, env, request in colds:
                    cold_start(kind, target, source, env, dict(request), logs, cold)
        print(f"Phase 5: import time ({plan['imports']} fresh interpreters each, interleaved) ...", flush=True)
        with Phase("import"):
            imports = import_times(plan["imports"])

        report(paths, [c[0] for c in colds], imports, args, litellm_note)
        if args.profile:
            print("\n== Profile (pyinstrument, wall time, in-process through functions-framework's Flask app, limiter off) ==", flush=True)
            profile(token, running.env, logs, 100 if args.quick else 300)
        print(f"\n(total {time.monotonic() - started:.0f} s)")
    except Failed as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        for server in servers:
            kill_tree(server.process)
        for process in processes:
            kill_tree(process)
        running.stop()


if __name__ == "__main__":
    main()
