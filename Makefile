# The two commands of the README, each doing all its own set-up on a fresh Debian 12 machine:
#   make demo   the main job
#   make test   the tests
BUILD ?= build
JOBS ?= 2

.PHONY: all deps test-deps fuzz-deps build test thread-safety sanitize fuzz demo bench clean

all: build

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --tests

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build test-deps
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# clang's thread-safety analysis over the controller's lock annotations (errors fail the build).
thread-safety: deps
	cmake -S . -B $(BUILD)-tsa -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DVERTEBRA_WITH_TORCH=OFF -DVERTEBRA_BUILD_TESTS=OFF -DVERTEBRA_THREAD_SAFETY_ANALYSIS=ON
	cmake --build $(BUILD)-tsa -j $(JOBS) --target vertebra_controller

fuzz-deps:
	scripts/install-deps.sh --fuzz

# AddressSanitizer + UndefinedBehaviorSanitizer (clang-14) over the unit tests without LibTorch,
# in $(BUILD)-fuzz, which also holds the libFuzzer targets (tests/fuzz/). The shell tests that
# run whole searches are left to `make test`.
SANITIZE_SKIP = ^(cli|kill|partition|k8s|slurm|report|inspect|journey|container)$$
sanitize: deps fuzz-deps
	cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DVERTEBRA_WITH_TORCH=OFF -DVERTEBRA_FUZZ=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	ctest --test-dir $(BUILD)-fuzz --output-on-failure -j $(JOBS) -E '$(SANITIZE_SKIP)'

# Each fuzz target for FUZZ_SECONDS from its seed corpus (scripts/fuzz.sh); a finding fails.
FUZZ_SECONDS ?= 30
fuzz: deps fuzz-deps
	cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DVERTEBRA_WITH_TORCH=OFF -DVERTEBRA_FUZZ=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	scripts/fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

demo: build
	scripts/demo.sh $(BUILD)/vertebra

bench: build
	$(BUILD)/vertebra bench arch --count 20000

clean:
	rm -rf $(BUILD) $(BUILD)-tsa $(BUILD)-fuzz
