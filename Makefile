# Candidate Results Service: `make run` runs the system, `make test` runs every test.
# Both set themselves up on a fresh machine (virtualenv and pinned dependencies).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared tools $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))
STAMP := $(VENV)/.installed

WHEELHOUSE := var/wheelhouse
PIP_TOOLS := pip-tools==7.6.2

.PHONY: setup run test bench wheelhouse up down lock clean

# requirements.lock carries every file's hash: pip checks each download against it.
$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python deploy/local/run.py

# nginx (the gateway), chromium and fonts-noto-cjk (the browser tests), wrk (the benchmarks'
# HTTP load, whose driver bench/tests checks), and docker.io, docker-compose and debootstrap (the
# compose test, tests/compose, which starts dockerd when none runs) are Debian packages:
# installed with apt-get when missing and root, else the target stops and says what to install.
test: setup wheelhouse
	deploy/local/ensure-rabbitmq.sh
	deploy/local/ensure-system-packages.sh nginx chromium fonts-noto-cjk wrk docker.io docker-compose debootstrap
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# wrk (the benchmarks' HTTP load) is a Debian package too, installed like nginx.
bench: setup
	deploy/local/ensure-rabbitmq.sh
	deploy/local/ensure-system-packages.sh nginx wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

# The images' third-party wheels, downloaded (or built) here and checked against the hashes of
# deploy/docker/requirements.lock: the image builds install from this folder and download nothing.
$(WHEELHOUSE)/.built: deploy/docker/requirements.lock | setup
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r deploy/docker/requirements.lock -w $(WHEELHOUSE)
	touch $@

wheelhouse: $(WHEELHOUSE)/.built

# The first `make up` writes .env from .env.example with new random secrets; every `make up`
# writes RabbitMQ's users from .env (deploy/compose/prepare_env.py, standard library only).
# deploy/compose/compose.sh starts dockerd when it is not running and picks the compose command
# and, where no registry answers, the offline stand-ins.
up: wheelhouse
	$(PYTHON) deploy/compose/prepare_env.py
	deploy/compose/compose.sh up -d --build
	@echo "The portal: http://$$(deploy/compose/compose.sh port gateway 8080)/"

down:
	deploy/compose/compose.sh down

# Re-pin every dependency after changing requirements.in or a pyproject.toml (pip-tools keeps
# today's pins unless asked: `make lock LOCK_ARGS=--upgrade`). pip-compile lists the project's own
# packages (-e), which pip refuses in hash-checking mode: the awk drops them.
COMPILE := .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
drop_editables = awk '/^\# WARNING: pip install will require/ {skip=1} skip && /^[^ \#-]/ {skip=0} !skip' \
	$(1) >$(1).tmp && mv $(1).tmp $(1)
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet $(PIP_TOOLS)
	$(COMPILE) --all-extras -o requirements.lock pyproject.toml requirements.in
	$(call drop_editables,requirements.lock)
	$(COMPILE) -o deploy/docker/requirements.lock deploy/docker/requirements.in
	$(call drop_editables,deploy/docker/requirements.lock)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) var
