# helao-chat: `make run` to try it, `make test` to test it, `make bench` to measure it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The web server's limits and timeouts are python -m helao_chat.serve's own (serve.DEFAULT_FLAGS).
DAPHNE_FLAGS := --access-log /dev/null
export PYTHONUNBUFFERED := 1

.PHONY: install npm run test bench lint format migrate clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $@

install: $(BIN)/.installed

# eslint, pinned in package-lock.json; `npm ci` installs exactly that (from npm's cache when it can).
node_modules/.installed: package.json package-lock.json
	npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	touch $@

npm: node_modules/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput -v0

# Everything on one machine: daphne, a Celery worker and Celery beat. Ctrl-C stops them all.
# The widget may be embedded from the origin served here (any PORT) unless CHAT_EMBED_ORIGINS
# says otherwise; the addresses and demo accounts are printed last, once the server answers.
run: migrate
	@mkdir -p var
	@$(BIN)/python manage.py seed_demo > var/demo-accounts.txt
	@trap 'kill $$worker $$beat $$web 2>/dev/null; wait' EXIT INT TERM; \
	export CHAT_EMBED_ORIGINS="$${CHAT_EMBED_ORIGINS:-http://$(HOST):$(PORT),http://localhost:$(PORT)}"; \
	$(BIN)/celery -A helao_chat --quiet worker --loglevel WARNING --concurrency 1 --pool solo & worker=$$!; \
	$(BIN)/celery -A helao_chat --quiet beat --loglevel WARNING --schedule var/celerybeat-schedule & beat=$$!; \
	$(BIN)/python -m helao_chat.serve -b $(HOST) -p $(PORT) $(DAPHNE_FLAGS) helao_chat.asgi:application & web=$$!; \
	for _ in $$(seq 120); do \
	  $(BIN)/python -c "import urllib.request as u; u.urlopen('http://$(HOST):$(PORT)/healthz', timeout=1)" 2>/dev/null && break; \
	  sleep 0.5; \
	done; \
	echo; \
	echo "  console:   http://$(HOST):$(PORT)/console/"; \
	echo "  admin:     http://$(HOST):$(PORT)/admin/"; \
	echo "  demo page: http://$(HOST):$(PORT)/demo/  (embeds the widget)"; \
	echo "  privacy:   http://$(HOST):$(PORT)/privacy/"; \
	echo "  health:    http://$(HOST):$(PORT)/healthz"; \
	sed 's/^/  /' var/demo-accounts.txt; \
	echo "  (an agent's first sign-in asks to acknowledge the console guidance)"; \
	echo; \
	wait $$web

test: install npm
	node --test tests/js/*.test.mjs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

lint: install npm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy realtime chat retention dsr agents feedback helao_chat
	node_modules/.bin/eslint static tests/js eslint.config.mjs

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules var staticfiles db.sqlite3
