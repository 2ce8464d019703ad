"""Model and provider list pages with many organisations: what an org admin's page costs.

    functions/venv/bin/python bench/org_lists.py [--orgs 20] [--models 100] [--runs 40]

Starts Auth and Firestore emulators (free ports), writes ``--orgs``
organisations with 2 providers and ``--models`` models each
(``orgs/{org}/providers``, ``orgs/{org}/models``), 200 project-wide models of
which the first organisation is shared 50, and three accounts: a project
admin, the first organisation's admin and one of its members. Then it runs
the ``models`` and ``providers`` functions under functions-framework (as
Cloud Run does, ``THREADS`` as deployed) beside the floor (a bare
``https_fn.on_request`` answering a GET, bench/passthrough.py) and times list pages,
interleaved round-robin so noise hits every case alike: the first page, a
page filtered by provider, sorted by ``-createdAt``, the second page (its
token), as the org admin, the member and the project admin. A warm list reads
nothing from Firestore (the listeners hold the catalogue), so the time is the
gateway's own: auth, membership, filter, sort and page in memory.

Not a test: nothing here runs under pytest or ``make test``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: servers, the emulator stack, percentiles)

PASSWORD = "bench-password"


def seed(orgs: int, models: int) -> list[str]:
    """The catalogue and the memberships; the org ids."""
    from gateway import firebase

    db = firebase.db()
    ids = [f"org-{n:03d}" for n in range(orgs)]
    batch, count = db.batch(), 0

    def put(ref: Any, data: dict[str, Any]) -> None:
        nonlocal batch, count
        batch.set(ref, data)
        count += 1
        if count % 400 == 0:
            batch.commit()
            batch = db.batch()

    for n in range(4):
        put(db.collection("providers").document(f"shared-{n}"), {"type": "openai-compatible", "baseUrl": "https://api.example.com/v1", "enabled": True})
    for n in range(200):
        put(db.collection("models").document(f"project-{n:03d}"), _model(f"shared-{n % 4}", f"Project model {n:03d}", n))
    for index, org in enumerate(ids):
        shared = [f"project-{n:03d}" for n in range(50)] if index == 0 else []
        put(db.collection("orgs").document(org), {"name": f"Org {org}", "settings": {"sharedModels": shared}})
        for p in range(2):
            put(db.collection("orgs").document(org).collection("providers").document(f"p{p}"),
                {"type": "openai-compatible", "baseUrl": "https://api.example.com/v1", "enabled": True})
        for n in range(models):
            put(db.collection("orgs").document(org).collection("models").document(f"{org}-m{n:03d}"), _model(f"p{n % 2}", f"{org} model {n:03d}", n))
    batch.commit()
    return ids


def _model(provider: str, name: str, n: int) -> dict[str, Any]:
    return {"name": name, "provider": provider, "type": "text", "enabled": n % 10 != 9, "capabilities": ["chat", "streaming"],
            "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6}, "createdAt": time.time() - n}


def account(email: str, role: str, org: str | None, org_role: str | None) -> str:
    """An Auth-emulator user with a project role (and an org membership); its ID token."""
    from firebase_admin import auth

    from gateway import firebase

    user = auth.create_user(email=email, password=PASSWORD, app=firebase.app())
    auth.set_custom_user_claims(user.uid, {"role": role}, app=firebase.app())
    firebase.db().collection("users").document(user.uid).set({"email": email, "role": role})
    if org and org_role:
        firebase.db().collection("orgs").document(org).collection("members").document(user.uid).set({"uid": user.uid, "role": org_role, "email": email})
    response = httpx.post(
        f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=bench",
        json={"email": email, "password": PASSWORD, "returnSecureToken": True},
    )
    return str(response.json()["idToken"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-org-lists-"))
    stack = run.stack_module.Stack(fresh_ports=True, emulators=("auth", "firestore"))
    servers: list[run.Server] = []
    try:
        stack.start()
        os.environ.update(stack.env)
        started = time.monotonic()
        orgs = seed(args.orgs, args.models)
        print(f"seeded {args.orgs} orgs x ({args.models} models + 2 providers), 200 project-wide models in {time.monotonic() - started:.1f} s")
        org = orgs[0]
        tokens = {
            "org admin": account("admin@org.bench", "user", org, "admin"),
            "member": account("member@org.bench", "user", org, "member"),
            "project admin": account("root@org.bench", "admin", None, None),
        }
        env = dict(stack.env)
        for name, target, source in (("models", "models", run.FUNCTIONS / "main.py"), ("providers", "providers", run.FUNCTIONS / "main.py"),
                                     ("floor", "passthrough", run.BENCH / "passthrough.py")):
            servers.append(run.spawn_ff(name, target, source, env, logs))
        for server in servers:
            server.wait_ready("/", timeout=120)
        models_url, providers_url, floor_url = (s.url for s in servers)
        client = httpx.Client(timeout=60)

        def headers(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[who]}", "X-Org-Id": org}

        first = client.get(models_url, params={"limit": 50}, headers=headers("org admin")).json()
        cases: dict[str, tuple[str, str, dict[str, Any], dict[str, str]]] = {
            "floor (bare on_request, GET)": ("GET", floor_url, {}, {}),
            "models, org admin, page 1": ("GET", models_url, {"limit": 50}, headers("org admin")),
            "models, org admin, provider=p1": ("GET", models_url, {"limit": 50, "provider": "p1"}, headers("org admin")),
            "models, org admin, sort=-createdAt": ("GET", models_url, {"limit": 50, "sort": "-createdAt"}, headers("org admin")),
            "models, org admin, page 2": ("GET", models_url, {"limit": 50, "pageToken": first.get("nextPageToken") or ""}, headers("org admin")),
            "models, member, page 1": ("GET", models_url, {"limit": 50}, headers("member")),
            "models, project admin in org, page 1": ("GET", models_url, {"limit": 50}, headers("project admin")),
            "models, project-wide, page 1": ("GET", models_url, {"limit": 50}, {"Authorization": f"Bearer {tokens['project admin']}"}),
            "providers, org admin": ("GET", providers_url, {}, headers("org admin")),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        sizes: dict[str, int] = {}
        for name, (method, url, params, hdrs) in cases.items():  # warm: listeners attached, first snapshot held
            response = client.request(method, url, params=params, headers=hdrs)
            if response.status_code != 200:
                raise run.Failed(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
            if url != floor_url:
                body = response.json()
                sizes[name] = len(body.get("models", body.get("providers", [])))
        order = list(cases)
        for round_ in range(args.runs):
            for name in order[round_ % len(order):] + order[: round_ % len(order)]:
                method, url, params, hdrs = cases[name]
                t0 = time.perf_counter()
                response = client.request(method, url, params=params, headers=hdrs)
                times[name].append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise run.Failed(f"{name}: HTTP {response.status_code}")
        floor = statistics.median(times["floor (bare on_request, GET)"])
        total = args.orgs * args.models + 200
        print(f"\n{args.runs} requests per case, {time.strftime('%Y-%m-%d')}, on {run.machine()}; {total} models in the catalogue")
        print("| list | items | median (ms) | p90 (ms) | max (ms) | x floor |")
        print("|---|---|---|---|---|---|")
        for name, values in times.items():
            print(f"| {name} | {sizes.get(name, '')} | {run.fmt(statistics.median(values))} | {run.fmt(run.pct(values, 0.9))} | "
                  f"{run.fmt(max(values))} | {run.ratio(statistics.median(values), floor):.2f} |")
    except run.Failed as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        for server in servers:
            run.kill_tree(server.process)
        stack.stop()


if __name__ == "__main__":
    main()
