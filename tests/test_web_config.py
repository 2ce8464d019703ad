"""The web app calls the functions in the region they are deployed to (``deploy.REGION``), in production too.

Production has no ``gateway-config.json`` (the emulator stacks write one): the
app then builds the functions' URL from the region that ``npm run build``
writes into ``web/src/app/deploy.js`` from ``functions/gateway/deploy.py``
(``scripts/web_config.py``). Built here with another region, as a team that
moves its functions would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT

WEB = ROOT / "web"
PYTHON = ROOT / "functions" / "venv" / "bin" / "python"
OTHER_REGION = "europe-west1"


def _generate(out: Path, region: str) -> None:
    """scripts/web_config.py as the build runs it, with ``deploy.REGION`` set to ``region``."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from gateway import deploy; deploy.REGION = sys.argv[3]\n"
        "import web_config; sys.argv = ['web_config.py', '--out', sys.argv[4]]; sys.exit(web_config.main())\n"
    )
    run = subprocess.run([str(PYTHON), "-c", code, str(ROOT / "scripts"), str(ROOT / "functions"), region, str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_committed_region_module_matches_deploy() -> None:
    run = subprocess.run([str(PYTHON), str(ROOT / "scripts" / "web_config.py"), "--check"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "us-central1" not in (WEB / "src" / "app" / "main.js").read_text()  # no region of its own
    assert "web_config.py" in json.loads((WEB / "package.json").read_text())["scripts"]["prebuild"]  # npm run build regenerates it


def test_production_config_uses_the_deployed_region(tmp_path) -> None:
    """Hosting's init.json and no gateway-config.json: the URL the client calls names deploy.REGION."""
    app = tmp_path / "app"
    shutil.copytree(WEB / "src" / "app", app, ignore=shutil.ignore_patterns("deploy.js"))
    _generate(app / "deploy.js", OTHER_REGION)
    script = (
        "const { resolveConfig } = await import(process.argv[1]);\n"
        "const init = { projectId: 'demo-elsewhere', apiKey: 'k' };\n"
        "console.log(JSON.stringify([resolveConfig(init, null).functionsUrl, resolveConfig(init, { functionsUrl: 'https://gw.example' }).functionsUrl]));\n"
    )
    run = subprocess.run(["node", "--input-type=module", "-e", script, (app / "config.js").as_uri()], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    production, chosen = json.loads(run.stdout)
    assert production == f"https://{OTHER_REGION}-demo-elsewhere.cloudfunctions.net"
    assert chosen == "https://gw.example"  # a gateway-config.json still wins (Cloud Run URLs, a custom domain)


def test_the_built_app_names_the_deployed_region(tmp_path) -> None:
    """The bundle Vite builds (what Hosting serves) carries the region of deploy.py, and no other."""
    web = tmp_path / "web"
    web.mkdir()
    for name in ("index.html", "vite.config.js", "package.json", "jsconfig.json"):
        shutil.copy(WEB / name, web / name)
    shutil.copytree(WEB / "src", web / "src")
    (web / "node_modules").symlink_to(WEB / "node_modules")
    _generate(web / "src" / "app" / "deploy.js", OTHER_REGION)
    vite = WEB / "node_modules" / ".bin" / "vite"
    run = subprocess.run([str(vite), "build", "--outDir", str(tmp_path / "dist"), "--logLevel", "error"], cwd=web, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    bundle = "".join(path.read_text() for path in (tmp_path / "dist" / "assets").glob("*.js"))
    assert f"https://{OTHER_REGION}-" in bundle
    assert "us-central1" not in bundle
