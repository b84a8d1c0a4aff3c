# FieldSync: build, run the demo, test.
#
#   make run     install missing Debian packages, build, run the demo into demo-output/
#   make test    install missing packages and test tools (aiosmtpd), build, `swift test` with a throwaway PostgreSQL 15,
#                then a 20-second run of the fuzz harness
#   make build   swift build
#   make fuzz    fuzz the bundle readers for FUZZ_SECONDS per target (libFuzzer + ASan; see docs/testing.md)
#   make bench   release-build benchmarks: the bundle format, then a sync exchange
#   make lint    swift format lint
#   make clean   remove build products and demo/benchmark output

SWIFT ?= swift
DEMO_DIR ?= demo-output

.PHONY: all help deps test-deps build run test fuzz bench lint clean

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
	.build/debug/fieldsync-fuzz --seconds 20 --crash-dir .build

# libFuzzer (shipped with the Swift toolchain) with AddressSanitizer, in its own build folder so that the normal
# build is untouched: FUZZ_SECONDS for each of the three targets (3 x 100 s = 5 minutes). The corpus grows in
# .build-fuzz/corpus/TARGET, findings go to .build-fuzz/crashes/. Where libFuzzer cannot be built, the seeded
# mutation harness runs for the same time instead.
FUZZ_SECONDS ?= 100
FUZZ_TARGETS = envelope payload batch

fuzz: deps
	@if $(SWIFT) build -c debug --scratch-path .build-fuzz --product fieldsync-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFIELDSYNC_LIBFUZZER; then \
		mkdir -p .build-fuzz/crashes; \
		for target in $(FUZZ_TARGETS); do \
			mkdir -p .build-fuzz/corpus/$$target; \
			FIELDSYNC_FUZZ_TARGET=$$target FIELDSYNC_FUZZ_CORPUS=.build-fuzz/corpus/$$target \
				.build-fuzz/debug/fieldsync-fuzz -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
				-artifact_prefix=.build-fuzz/crashes/$$target- .build-fuzz/corpus/$$target || exit 1; \
		done; \
	else \
		echo "make fuzz: libFuzzer could not be built; running the seeded mutation harness instead" >&2; \
		$(SWIFT) build --product fieldsync-fuzz && \
			.build/debug/fieldsync-fuzz --seconds $$((3 * $(FUZZ_SECONDS))) --crash-dir .build; \
	fi

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
	rm -rf .build .build-fuzz $(DEMO_DIR) bench-output
