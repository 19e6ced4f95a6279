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

# $(BUILD)/Makefile is written only when configuring succeeds (CMakeCache.txt is not), so a failed
# configure is retried by the next make.
$(BUILD)/Makefile:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: setup $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: transfer learning. The one real ImageNet-derived backbone that can be had offline
# (nsfwjs' Keras MobileNetV2, served by the local mirror) is fine-tuned on a Fashion-MNIST subset,
# evaluated on held-out test images, and asked where it looks (Grad-CAM) on one of them. Keras
# BatchNorm momentum (0.001) is too slow for a short fine-tune: --bn-momentum 0.1 (about 0.8 val
# accuracy after 2 epochs on 3000 images, where a linear probe of the frozen features gets 0.75).
DEMO_DATA ?= /usr/share/datasets/fashion-mnist
DEMO_ARGS ?= --max-samples 3000 --val-max-samples 1000 --input-size 96 --epochs 2 --batch-size 32 --lr 1e-3 --bn-momentum 0.1 --seed 0
demo: build mirror
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	@ARK_ENDPOINT=$${ARK_MIRROR:-$$HOME/.cache/ark/mirror} ARK_HOME=$(BUILD)/demo/cache $(BUILD)/apps/ark finetune \
	  mobilenet_v2_keras.nsfwjs --data $(DEMO_DATA)/train-images-idx3-ubyte.gz \
	  --val-data $(DEMO_DATA)/t10k-images-idx3-ubyte.gz $(DEMO_ARGS) --out $(BUILD)/demo/run
	@$(BUILD)/apps/ark eval $(BUILD)/demo/run --data $(DEMO_DATA)/t10k-images-idx3-ubyte.gz --max-samples 2000 \
	  --confusion $(BUILD)/demo/confusion.png
	@/usr/bin/python3 -c "import gzip, sys; from PIL import Image; d = gzip.open(sys.argv[1]).read(); \
	  Image.frombytes('L', (28, 28), d[16:16 + 784]).save(sys.argv[2])" \
	  $(DEMO_DATA)/t10k-images-idx3-ubyte.gz $(BUILD)/demo/sample.png
	@$(BUILD)/apps/ark predict $(BUILD)/demo/run $(BUILD)/demo/sample.png --topk 3 --cam $(BUILD)/demo/cam.png
	@echo "demo: run folder $(BUILD)/demo/run (metrics.jsonl, loss.png, accuracy.png, confusion.png), Grad-CAM $(BUILD)/demo/cam.png"

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
	@tools/bench/finetune_bench.sh $(BUILD)

install: build
	@cmake --install $(BUILD)

clean:
	@rm -rf $(BUILD) build-asan build-fuzz
