# The two commands of the README, and the developer targets around them.
#   make demo   set-up, build, run the main job on an embedded default
#   make test   set-up, build, the whole test suite
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build mirror demo test test-asan fuzz bench install clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# For now the main job is the classic libtorch MNIST program trained on Fashion-MNIST.
demo: build
	@mkdir -p $(BUILD)/demo && ln -sfn /usr/share/datasets/fashion-mnist $(BUILD)/demo/data
	@cd $(BUILD)/demo && ../tests/libtorch_mnist

# The offline mirror of pretrained weights (ARK_ENDPOINT=~/.cache/ark/mirror ark pull NAME).
mirror: build
	@scripts/make_mirror.sh $(BUILD)/apps/ark

test: build mirror
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARK_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer targets, each run for a bounded time over its seed corpus.
FUZZ_SECONDS ?= 60
fuzz: setup
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARK_FUZZ=ON -DARK_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@tools/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	@tools/bench/run.sh $(BUILD)

install: build
	@cmake --install $(BUILD)

clean:
	@rm -rf $(BUILD) build-asan build-fuzz
