# The two commands a newcomer needs: `make dev` and `make test`.
PY := functions/venv/bin/python

.PHONY: dev test setup seed clean

dev: setup  ## set up, start the emulators with seed data and demo accounts
	$(PY) scripts/stack.py dev

test: setup  ## lint, then run the test suite (it starts and stops its own emulators)
	functions/venv/bin/ruff check .
	$(PY) -m pytest tests

setup:  ## install functions/venv, firebase-tools and the emulator launcher jars
	bash scripts/setup.sh

seed:  ## reload seed data into the running dev stack
	$(PY) seed/load.py

clean:
	rm -rf functions/venv node_modules .cache .stack tests/clients/.venv tests/clients/.venv-llamaindex tests/clients/node/node_modules
