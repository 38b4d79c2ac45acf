# agenthost: a small front for CMake. See README.md.
#   make run    install what is missing, build, start the host on 127.0.0.1:8080
#   make debug INSTANCE=ID [WRAPPER='gdb -q -batch -ex run -ex bt --args']
#               the same host with that one instance unconfined, under WRAPPER
#               (docs/plugin-guide.md#unit-tests-and-debugging)
#   make test   install what is missing, build with sanitizers, run every test
#   make bench  the full benchmarks (docs/benchmarks.md)
#   make docs   rewrite the generated parts of the docs (the options table)
#   make widget build the web chat widget, admin/widget/dist/widget.js

BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)

.PHONY: all deps build run debug test test-unit fuzz bench install format docs clean widget

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAH_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/agenthost serve --data ./var --logs ./logs --listen 127.0.0.1:8080

# The config must allow it (supervisor.allow_debug_unconfined): this one
# does, and nothing else.
DEBUG_CONFIG ?= etc/agenthost.debug.json
debug: build
	@test -n "$(INSTANCE)" || { echo "usage: make debug INSTANCE=ID [WRAPPER='valgrind ...'] [DEBUG_CONFIG=FILE]" >&2; exit 2; }
	$(BUILD)/agenthost serve --config $(DEBUG_CONFIG) --data ./var --logs ./logs \
	  --listen 127.0.0.1:8080 --debug-instance $(INSTANCE) $(if $(WRAPPER),--debug-wrapper '$(WRAPPER)')

test:
	@scripts/deps.sh --test
	@scripts/test.sh

fuzz:
	@scripts/deps.sh --test
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} scripts/test.sh fuzz

bench:
	@scripts/deps.sh --bench
	@scripts/bench.sh full

widget: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAH_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) --target widget

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

docs: build
	@scripts/options-doc.sh $(BUILD)/agenthost
	@scripts/permissions-doc.sh $(BUILD)/agenthost

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^tests/fixtures/sdk-1.0/')

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
