"""scripts/setup.sh's root install: firebase-tools without its optional native addon.

superstatic (the Hosting emulator) asks for `re2` as an optional dependency; its prebuilt
binary cannot be downloaded here, so `npm ci` compiled it from C++ for minutes on every
fresh machine. The committed .npmrc omits optional dependencies for the root install only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _npm_omit(cwd: Path) -> str:
    out = subprocess.run(["npm", "config", "get", "omit"], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_root_npm_install_omits_optional_dependencies_and_only_there() -> None:
    assert _npm_omit(ROOT) == "optional", "a root `npm ci` would fetch and compile re2 (see .npmrc)"
    # web/ needs its optional per-platform binaries (esbuild, rollup); the node clients keep npm's defaults.
    assert _npm_omit(ROOT / "web") == ""
    assert _npm_omit(ROOT / "tests" / "clients" / "node") == ""


def test_installed_firebase_tools_has_no_natively_built_addon() -> None:
    """What setup.sh installed: firebase-tools, and nothing compiled from source under node_modules."""
    modules = ROOT / "node_modules"
    assert (modules / ".bin" / "firebase").exists(), "firebase-tools is not installed: run scripts/setup.sh"
    assert not (modules / "re2").exists(), "re2 is installed: node_modules predates .npmrc, run scripts/setup.sh"
    built = sorted(str(p.relative_to(modules)) for p in modules.glob("**/build/Release/*.node"))
    assert built == [], f"native addons built on install: {built}"
