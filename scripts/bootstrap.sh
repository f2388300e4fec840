#!/usr/bin/env bash
# Installs every Debian package credvault needs to build, test and run. Idempotent: a
# package already installed is skipped, and apt is not touched when nothing is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format git ca-certificates
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libsodium-dev libpqxx-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev prometheus-cpp-dev libcivetweb-dev
  libcurl4-openssl-dev libp11-kit-dev
  # Kubernetes ServiceAccount tokens (JWS/JWK); cjose's pkg-config file requires jansson
  libcjose-dev libjansson-dev
  # runtime tools used by the scripts and tests (softhsm2: the PKCS#11 token of the tests)
  postgresql postgresql-client openssl util-linux procps python3-yaml softhsm2
  # a gRPC C-core client other than C++ for the restart tests (tests/python)
  python3-grpcio python3-protobuf
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "bootstrap: all packages present" >&2
fi
