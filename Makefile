# The two commands: `make run` (serve the demo on SQLite + local files) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var


export LIENTHONG_DATA_DIR ?= $(DATA_DIR)

.PHONY: run test lint typecheck layers deps install clean

# Debian packages the project needs, installed when run as root: libmagic (media types),
# Times-compatible and DejaVu fonts with Vietnamese (slips, stamps), and the independent
# checkers and PKCS#11 token the signing tests use (poppler, qpdf, NSS tools, SoftHSM2, OpenSC).
DEBS := libmagic1 fonts-liberation2 fonts-dejavu-core poppler-utils qpdf libnss3-tools softhsm2 opensc

$(STAMP): pyproject.toml
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s $(DEBS) >/dev/null 2>&1; then \
		apt-get update -qq && apt-get install -y -qq $(DEBS); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	LIENTHONG_DEMO=1 $(BIN)/lienthong db upgrade
	LIENTHONG_DEMO=1 $(BIN)/lienthong demo
	LIENTHONG_DEMO=1 $(BIN)/lienthong serve

test: $(STAMP)
	$(BIN)/ruff check engine signing storage api tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
