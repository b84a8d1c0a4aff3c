# FieldSync: build, run the demo, test.
#
#   make run     install missing Debian packages, build, run the demo into demo-output/
#   make test    install missing packages and test tools (aiosmtpd), build, `swift test` with a throwaway PostgreSQL 15
#   make build   swift build
#   make bench   release-build benchmarks: the bundle format, then a sync exchange
#   make lint    swift format lint
#   make clean   remove build products and demo/benchmark output

SWIFT ?= swift
DEMO_DIR ?= demo-output

.PHONY: all help deps test-deps build run test bench lint clean

all: build

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

deps:
	bash scripts/install-deps.sh

# What only the tests need: openssl, python3 and the aiosmtpd SMTP server (from PyPI).
test-deps:
	bash scripts/install-test-tools.sh

build:
	$(SWIFT) build

# Steps in one recipe rather than as prerequisites, so `make -j` cannot build before the packages are installed.
run: deps
	$(SWIFT) build
	rm -rf $(DEMO_DIR)
	$(SWIFT) run fieldsync demo --dir $(DEMO_DIR)

# Compile first, so the throwaway server only runs while the tests do.
test: deps
	bash scripts/install-test-tools.sh
	$(SWIFT) build --build-tests
	bash scripts/with-postgres.sh $(SWIFT) test

bench: deps
	$(SWIFT) build -c release --product fieldsync-bench
	.build/release/fieldsync-bench bundle
	.build/release/fieldsync-bench sync --rows 100000

lint:
	@$(SWIFT) format --version >/dev/null 2>&1 || { \
		echo "make lint: 'swift format' is not available in this Swift toolchain (it ships with Swift 6 and later)" >&2; \
		exit 1; }
	$(SWIFT) format lint -r Sources Tests

clean:
	rm -rf .build $(DEMO_DIR) bench-output
