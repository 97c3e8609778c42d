# Thin wrapper over meson/ninja. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they install what is missing first.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
PACKAGES := g++ pkg-config meson ninja-build libuv1-dev node-llhttp libsimdjson-dev \
            libhiredis-dev libssl-dev libsodium-dev libcurl4-openssl-dev googletest \
            libgtest-dev libbenchmark-dev redis-server wrk python3 python3-aiosmtpd procps openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup build run test asan bench load load-livez readme-config clean

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

# Development mode on 127.0.0.1:8080, one worker, embedded in-process state,
# delivering to phigate-mock-provider on loopback (tools/run-dev.sh).
# Builds only the two programs it runs (not the tests).
run: setup $(BUILD)/build.ninja
	ninja -C $(BUILD) phigate phigate-mock-provider
	tools/run-dev.sh $(BUILD)

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

# wrk against POST /v1/sms with phigate + a real Redis, --workers 1 and 2:
# requests/s, p50/p99, non-2xx, Redis commands per request, CPU per request;
# then delivery to phigate-mock-provider (0 and 200 ms): delivered/s, Redis
# and CPU cost per delivered message, OTP latency behind a bulk backlog.
load: build
	load/run-sms.sh $(BUILD)
	load/run-delivery.sh $(BUILD)

# README.md's configuration table is generated (src/config/variables.cpp);
# this replaces it with `phigate --help-config-markdown`, which a unit test
# then finds equal. Only the first table after "## Configuration" changes.
readme-config: build
	TABLE="$$(./$(BUILD)/phigate --help-config-markdown)" awk ' \
	  /^## Configuration$$/ { section = 1 } \
	  section && /^\|/ { if (!done) print ENVIRON["TABLE"]; done = 1; next } \
	  done { section = 0 } \
	  { print }' README.md > README.md.tmp && mv README.md.tmp README.md

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# ---- fuzzing ------------------------------------------------------------------
# libFuzzer targets of tests/fuzz/ (see tests/fuzz/README.md), built with clang,
# ASan and UBSan into $(FUZZ_BUILD)/ and run one after the other for
# FUZZ_SECONDS each. Exits non-zero if a target crashed, leaked, hung or broke
# an invariant; the input is then in $(FUZZ_BUILD)/artifacts/<target>/.
# Not part of `make test`: it takes minutes, not seconds.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := body_fuzz http_fuzz
# Debian 12's clang is clang-14; its libFuzzer runtime is only a Recommends.
FUZZ_PACKAGES := clang libclang-rt-dev
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CXXFLAGS := -std=c++20 -g -O1 $(FUZZ_SAN) -Wall -Wextra -Isrc -I/usr/share/include/llhttp -MMD -MP
FUZZ_CFLAGS := -g -O1 $(FUZZ_SAN) -w -DLLHTTP_STRICT_MODE=1 -I/usr/share/include/llhttp
FUZZ_LIBS := -luv -lsimdjson -lsodium -lhiredis -lcurl
# All of src/<layer>/*.cpp, i.e. phigate_core (src/main.cpp, with main(), is not needed).
FUZZ_CORE_OBJS := $(patsubst src/%.cpp,$(FUZZ_BUILD)/obj/src/%.o,$(wildcard src/*/*.cpp)) \
                  $(patsubst /usr/share/llhttp/%.c,$(FUZZ_BUILD)/obj/llhttp/%.o,$(wildcard /usr/share/llhttp/*.c))

.PHONY: fuzz fuzz-setup fuzz-build

fuzz-setup: setup
	@missing=$$(for p in $(FUZZ_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make fuzz-setup: installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(FUZZ_BUILD)/obj/llhttp/%.o: /usr/share/llhttp/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/src/%.o: src/%.cpp
	@mkdir -p $(@D)
	clang++ $(FUZZ_CXXFLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/fuzz/%.o: tests/fuzz/%.cpp
	@mkdir -p $(@D)
	clang++ $(FUZZ_CXXFLAGS) -Wpedantic -c $< -o $@

$(FUZZ_BUILD)/libphigate_fuzz.a: $(FUZZ_CORE_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/%_fuzz: $(FUZZ_BUILD)/obj/fuzz/%_fuzz.o $(FUZZ_BUILD)/libphigate_fuzz.a
	clang++ $(FUZZ_SAN) $^ $(FUZZ_LIBS) -o $@

FUZZ_TARGET_OBJS := $(patsubst %,$(FUZZ_BUILD)/obj/fuzz/%.o,$(FUZZ_TARGETS))
.SECONDARY: $(FUZZ_TARGET_OBJS)
-include $(FUZZ_CORE_OBJS:.o=.d) $(FUZZ_TARGET_OBJS:.o=.d)

fuzz-build: $(patsubst %,$(FUZZ_BUILD)/%,$(FUZZ_TARGETS))

# The seed corpus and dictionary are read-only inputs; what the fuzzer finds
# goes to $(FUZZ_BUILD)/corpus/<target>/ (kept between runs).
fuzz: fuzz-setup
	@$(MAKE) --no-print-directory fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ./$(FUZZ_BUILD)/$$t $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	    -dict=tests/fuzz/$$t.dict -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	    || { echo "!! $$t failed: reproduce with ./$(FUZZ_BUILD)/$$t <file from $(FUZZ_BUILD)/artifacts/$$t/>"; rc=1; }; \
	done; exit $$rc
