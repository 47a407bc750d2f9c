# Tessera: the two commands of the README, and what they need.
#   make demo   segment a generated slide through a cluster on this machine (installs what is missing)
#   make test   run the test suite (installs what is missing)

SWIFT ?= swift
# Numeric code is 10-100x slower unoptimised: tests run optimised, with @testable access.
SWIFT_TEST_FLAGS ?= -c release -Xswiftc -enable-testing
APT_PACKAGES := pkg-config libopenblas-dev libzmq3-dev libtiff-dev zlib1g-dev
PKG_CONFIG_MODULES := libzmq libtiff-4 openblas zlib
# Loaded at run time when present (dlopen): OpenSlide, for MIRAX, Hamamatsu and other formats.
RUNTIME_PACKAGES := libopenslide0
DEMO_DIR ?= out/demo
DEMO_SIZE ?= 4096
DEMO_SEED ?= 7

.PHONY: deps build demo test lint format fuzz clean

## Installs the Debian packages the C libraries come from, when any is missing.
deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists $(PKG_CONFIG_MODULES); then \
		echo "Installing $(APT_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@if ! /sbin/ldconfig -p 2>/dev/null | grep -q libopenslide.so.0; then \
		echo "Installing $(RUNTIME_PACKAGES) (optional: slides that are not TIFF)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(RUNTIME_PACKAGES) ) \
			|| echo "$(RUNTIME_PACKAGES) not installed: OpenSlide's formats will be refused, and their tests skipped"; \
	fi

build: deps
	$(SWIFT) build -c release --product tessera

## A synthetic slide through the real cluster: a coordinator and a worker per bundled
## member (models/) on loopback, stopped when it ends; prints Dice against its exact mask.
demo: build
	tools/demo.sh $$($(SWIFT) build -c release --show-bin-path)/tessera $(DEMO_DIR) $(DEMO_SIZE) $(DEMO_SEED)

## The tests compute with the OpenBLAS kernel the tessera binary pins itself to at start
## (BLASCorePinning: SkylakeX with AVX-512, Haswell with AVX2 and FMA only, Haswell for both
## with TESSERA_BLAS_CORE=haswell), whatever the host's own would be: OpenBLAS reads it when
## it loads, so it comes from the environment (one set already is kept). The AVX-512 flags
## are KernelSet.cpuHasAVX512's.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has_flags = $(if $(strip $(foreach f,$(1),$(if $(filter $(f),$(CPU_FLAGS)),,missing))),,yes)
AVX512_FAMILY := $(if $(filter haswell Haswell,$(TESSERA_BLAS_CORE)),,$(call has_flags,avx512f avx512cd avx512bw avx512dq avx512vl))
BLAS_FAMILY := $(if $(call has_flags,avx2 fma),$(if $(AVX512_FAMILY),SkylakeX,Haswell))
BLAS_CORE := $(if $(OPENBLAS_CORETYPE),,$(if $(filter native,$(TESSERA_BLAS_CORE)),,$(BLAS_FAMILY)))

test: deps lint
	$(if $(BLAS_CORE),OPENBLAS_CORETYPE=$(BLAS_CORE) )$(SWIFT) test $(SWIFT_TEST_FLAGS)

## The code's format (.swift-format): `make format` rewrites, `make lint` checks (part of `make test`).
FORMAT_PATHS := Package.swift Tests $(filter-out Sources/EngineKernelsHaswell Sources/EngineKernelsSkylakeX,$(wildcard Sources/*))
lint:
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

format:
	$(SWIFT) format format --in-place --recursive $(FORMAT_PATHS)

## libFuzzer over the wire codec and every message handler, FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz: deps
	tools/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build out
