# kofu — two commands: `make demo` and `make test`. Both set everything up on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages needed at run and test time are checked in system-deps (as root; sudo when not root):
# poppler-utils, zbar-tools and IPAex fonts for certificates; pcscd, vsmartcard-vpcd, opensc and the
# pyscard build deps (libpcsclite-dev, swig) for the card; chromium and Korean/Devanagari fonts for the kiosk
# screen's browser tests.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export KOFU_HOME ?= $(CURDIR)/var

.PHONY: demo test setup system-deps lint bench clean reliability

system-deps:
	@missing=""; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v zbarimg >/dev/null || missing="$$missing zbar-tools"; \
	[ -f /usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf ] || missing="$$missing fonts-ipaexfont-mincho fonts-ipaexfont-gothic"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -x /usr/sbin/pcscd ] || missing="$$missing pcscd"; \
	[ -f /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || missing="$$missing vsmartcard-vpcd"; \
	command -v pkcs15-tool >/dev/null || missing="$$missing opensc"; \
	command -v pcsc_scan >/dev/null || missing="$$missing pcsc-tools"; \
	ls /usr/lib/*/opensc-pkcs11.so >/dev/null 2>&1 || missing="$$missing opensc-pkcs11"; \
	[ -f /usr/include/PCSC/winscard.h ] || missing="$$missing libpcsclite-dev"; \
	command -v swig >/dev/null || missing="$$missing swig"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || missing="$$missing fonts-nanum"; \
	[ -f /usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf ] || missing="$$missing fonts-lohit-deva"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: system-deps $(BIN)/.installed

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

# the full-size reliability suite (docs/reliability.md); `make test` runs it at reduced size
reliability: setup
	KOFU_RELIABILITY=full $(BIN)/python -m pytest -q -m reliability tests/reliability

demo: setup
	$(BIN)/kofu demo

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
