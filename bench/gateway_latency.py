"""What the gateway adds on top of the floor every Python Cloud Function pays.

    functions/venv/bin/python bench/gateway_latency.py [--requests 500] [--streams 100]

Side by side in one run, on loopback, requests interleaved:
  (a) direct: a fake OpenAI-compatible upstream (its own process);
  (b) pass-through: bench/passthrough.py under functions-framework (gunicorn,
      as in production), forwarding the body with one shared httpx.Client;
  (c) gateway: functions/main.py's generate_text under functions-framework,
      with a real Auth-emulator ID token, the registry and validation on (the
      Auth and Firestore emulators are started for it; warm requests read
      neither), rate limits off, the usage ledger committed inside the request;
  (d) the same gateway with rate limits on: one Firestore write per request,
      here to the local emulator (in production, to Firestore in-region).
Prints added latency p50/p95/p99 of (b) and (c) over (a), requests/s at
concurrency 1 and 16, streaming first-chunk overhead, and cold import time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "functions"), str(ROOT / "bench")]

import import_time  # noqa: E402

import stack as stack_module  # noqa: E402

PROMPT = "Say something short"
UPSTREAM_BODY = {"model": "bench-model", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def serve(target: str, source: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    from gateway import deploy

    port = stack_module.free_port()
    threads = {"THREADS": str(deploy.THREADS)}  # as deployed (functions/.env), for the pass-through too
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("functions-framework")), "--target", target, "--source", str(source), "--port", str(port)],
        cwd=source.parent, env={**os.environ, **threads, **env, "FUNCTION_TARGET": target}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/__/health", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{target} did not start")


def setup_gateway(upstream_url: str) -> str:
    """Provider and model documents for the fake, and a signed-in user's ID token."""
    from firebase_admin import auth

    from gateway import firebase

    db = firebase.db()
    db.collection("providers").document("bench").set({"type": "openai-compatible", "baseUrl": f"{upstream_url}/v1", "enabled": True})
    db.collection("models").document("bench-chat").set(
        {"name": "bench-model", "provider": "bench", "type": "text", "enabled": True,
         "config": {"maxTokens": 64, "maxTokensLimit": 4096}, "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6}}
    )
    user = auth.create_user(email="bench@test.example", password="bench-password", app=firebase.app())
    auth.set_custom_user_claims(user.uid, {"role": "user"}, app=firebase.app())
    response = httpx.post(
        f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=bench",
        json={"email": "bench@test.example", "password": "bench-password", "returnSecureToken": True},
    )
    return str(response.json()["idToken"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--streams", type=int, default=100)
    args = parser.parse_args()

    running = stack_module.Stack(fresh_ports=True, emulators=("auth", "firestore"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        running.start()
        os.environ.update(running.env)
        upstream = subprocess.Popen([sys.executable, str(ROOT / "bench" / "upstream.py")], stdout=subprocess.PIPE)
        processes.append(upstream)
        assert upstream.stdout is not None
        upstream_url = upstream.stdout.readline().decode().strip()
        token = setup_gateway(upstream_url)
        passthrough, passthrough_url = serve("passthrough", ROOT / "bench" / "passthrough.py", {"UPSTREAM_URL": f"{upstream_url}/v1/chat/completions"})
        gateway, gateway_url = serve("generate_text", ROOT / "functions" / "main.py", {**running.env, "RATE_LIMITS_ENABLED": "false"})
        limited, limited_url = serve("generate_text", ROOT / "functions" / "main.py", {**running.env, "RATE_LIMITS_ENABLED": "true"})
        processes += [passthrough, gateway, limited]
        from gateway import firebase

        firebase.db().collection("config").document("limits").set({"perMinute": {"generate_text": 10**9}})

        auth = {"Authorization": f"Bearer {token}"}
        targets = {
            "direct": (f"{upstream_url}/v1/chat/completions", UPSTREAM_BODY, {}),
            "passthrough": (passthrough_url, UPSTREAM_BODY, {}),
            "gateway": (gateway_url, {"modelId": "bench-chat", "prompt": PROMPT}, auth),
        }
        limited_target = (limited_url, {"modelId": "bench-chat", "prompt": PROMPT}, auth)
        client = httpx.Client(timeout=30)

        def call(name: str) -> float:
            url, body, headers = targets[name] if name in targets else limited_target
            started = time.perf_counter()
            response = client.post(url, json=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            return elapsed

        for _ in range(50):
            for name in targets:
                call(name)
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.requests):
            for name in targets:
                samples[name].append(call(name))

        print(f"\nLatency, {args.requests} interleaved non-streaming requests each (ms):")
        print(f"  {'':<13}{'p50':>8}{'p95':>8}{'p99':>8}")
        for name, values in samples.items():
            print(f"  {name:<13}{pct(values, .5):8.2f}{pct(values, .95):8.2f}{pct(values, .99):8.2f}")
        print("Added over direct (percentile of each minus direct's):")
        added = {}
        for name in ("passthrough", "gateway"):
            added[name] = [pct(samples[name], q) - pct(samples["direct"], q) for q in (.5, .95, .99)]
            print(f"  {name:<13}" + "".join(f"{v:8.2f}" for v in added[name]))
        ratio = added["gateway"][0] / added["passthrough"][0] if added["passthrough"][0] > 0 else float("nan")
        print(f"  gateway / passthrough added p50 ratio: {ratio:.2f}x")

        # Phase 2, apart so its Firestore writes do not load the emulator during phase 1:
        # the same gateway with rate limits on, interleaved with it off.
        pairs: dict[str, list[float]] = {"gateway": [], "gw+limiter": []}
        for _ in range(args.requests // 2):
            for name in pairs:
                pairs[name].append(call(name))
        limiter = [pct(pairs["gw+limiter"], q) - pct(pairs["gateway"], q) for q in (.5, .95, .99)]
        print("  rate limiter (one Firestore write, local emulator), added p50/p95/p99: " + " / ".join(f"{v:.2f}" for v in limiter) + " ms")

        from gateway import limits

        checks = []
        for _ in range(300):
            started = time.perf_counter()
            limits.check("bench-direct", "generate_text", "user")
            checks.append((time.perf_counter() - started) * 1000)
        print(f"  limiter alone, in-process, 300 checks: p50 {pct(checks, .5):.2f} ms, p95 {pct(checks, .95):.2f} ms (one Firestore write each)")

        from gateway import usage

        commits = []
        for _ in range(300):
            entry = usage.Entry(uid="bench-ledger", route="generate_text", model_id="bench-chat", provider="bench",
                                status="ok", latency_ms=1.0, prompt_tokens=9, completion_tokens=5, cost=1e-6)
            started = time.perf_counter()
            usage.record(entry)
            commits.append((time.perf_counter() - started) * 1000)
        print(f"  usage ledger alone, in-process, 300 commits: p50 {pct(commits, .5):.2f} ms, p95 {pct(commits, .95):.2f} ms "
              "(record + user day + model shard, one commit; inside every gateway request above)")

        print("\nThroughput (requests/s, one instance):")
        for concurrency in (1, 16):
            line = f"  concurrency {concurrency:<3}"
            for name in [*targets, "gw+limiter"]:
                count = 400 if concurrency == 1 else 1600
                started = time.perf_counter()
                if concurrency == 1:
                    for _ in range(count):
                        call(name)
                else:
                    with ThreadPoolExecutor(concurrency) as pool:
                        list(pool.map(lambda _, target=name: call(target), range(count)))
                line += f"  {name} {count / (time.perf_counter() - started):7.0f}"
            print(line)

        first: dict[str, list[float]] = {"direct": [], "gateway": []}
        for _ in range(args.streams):
            for name in first:
                url, body, headers = targets[name]
                started = time.perf_counter()
                with client.stream("POST", url, json={**body, "stream": True}, headers=headers) as response:
                    seen = False
                    for line in response.iter_lines():
                        compact = line.replace(" ", "")
                        if not seen and '"content":"' in compact and '"content":""' not in compact:
                            first[name].append((time.perf_counter() - started) * 1000)
                            seen = True
        overhead = pct(first["gateway"], .5) - pct(first["direct"], .5)
        print(f"\nStreaming, {args.streams} streams each: first content chunk p50 direct {pct(first['direct'], .5):.2f} ms, "
              f"gateway {pct(first['gateway'], .5):.2f} ms, overhead {overhead:.2f} ms")

        print("\nCold import of functions/main.py (fresh interpreter, 5 runs):")
        for label, target in (("http function (generate_text)", "generate_text"), ("discovery (no target)", None)):
            times = import_time.measure(target, 5)
            print(f"  {label:<30} best {min(times):6.1f} ms   median {statistics.median(times):6.1f} ms")
    finally:
        for process in processes:
            process.kill()
            process.wait()
        running.stop()


if __name__ == "__main__":
    main()
