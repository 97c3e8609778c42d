# Thin wrapper over meson/ninja. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they install what is missing first.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
PACKAGES := g++ pkg-config meson ninja-build libuv1-dev node-llhttp libsimdjson-dev \
            libhiredis-dev libssl-dev libsodium-dev libcurl4-openssl-dev googletest \
            libgtest-dev libbenchmark-dev redis-server wrk python3 procps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup build run test asan bench load-livez load-livez-nginx clean

all: build

# Idempotent and quiet when everything is present.
setup:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make setup: installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release >/dev/null

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Development mode on 127.0.0.1:8080, one worker, embedded in-process state.
run: build
	APP_ENV=$${APP_ENV:-development} ./$(BUILD)/phigate

test: build
	tests/run-tests.sh $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Doptimization=1 \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false >/dev/null

asan: setup $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  tests/run-tests.sh $(ASAN_BUILD)

bench: build
	./$(BUILD)/bench/bench_http --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
	./$(BUILD)/bench/bench_pipeline --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

# wrk against GET /livez for 10 s (phigate, then nginx with one worker answering
# a fixed 200, in the same run); prints requests/s and p99 for both.
load-livez: build
	load/run-livez.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
