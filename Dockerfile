# syntax=docker/dockerfile:1
#
# credvault image: credvaultd (server, migrations, init-root-key) and credvaultctl.
#
#   docker build -t registry.internal/credvault/credvaultd:0.1.0 .
#
# Two stages. The build stage compiles a Release build on Debian 12 with the same Debian
# packages as scripts/bootstrap.sh. The runtime stage is debian:12-slim plus only the
# shared libraries the binaries link against, runs as the unprivileged user 65532 and
# starts credvaultd directly (exec form): nothing at run time needs a shell, and the Helm
# chart probes the pod over the network (gRPC health checks on the health-only listener,
# or TCP connects when that listener is off), never with commands.
#
# tests/image/check_image.py keeps this file honest: every library `ldd` reports for a
# built credvaultd must come from a package this runtime stage installs (directly, or as a
# dependency of one), and the build stage must install every library package that
# scripts/bootstrap.sh lists.

ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libsodium-dev libpqxx-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev \
      libyaml-cpp-dev libcli11-dev nlohmann-json3-dev prometheus-cpp-dev libcivetweb-dev \
      libcurl4-openssl-dev libssl-dev libp11-kit-dev libcjose-dev libjansson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the two binaries: the tests and benchmarks are not part of the image.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=OFF \
 && cmake --build /build --target credvaultd credvaultctl \
 && install -D -m 0755 /build/server/credvaultd /out/usr/local/bin/credvaultd \
 && install -D -m 0755 /build/cli/credvaultctl /out/usr/local/bin/credvaultctl \
 && strip --strip-unneeded /out/usr/local/bin/credvaultd /out/usr/local/bin/credvaultctl

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (no -dev packages, no tools), one line per library family.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 \
      libgcc-s1 \
      libstdc++6 \
      libabsl20220623 \
      libgrpc++1.51 \
      libgrpc29 \
      libc-ares2 \
      libre2-9 \
      zlib1g \
      libprotobuf32 \
      libsodium23 \
      libpqxx-6.4 \
      libssl3 \
      libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libcurl4 \
      libcjose0 \
      libjansson4 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && groupadd --system --gid 65532 credvault \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin credvault
COPY --from=build /out/ /
USER 65532:65532
# gRPC listeners (write, decrypt, admin) and the metrics endpoint.
EXPOSE 7443 7444 7445 9464
ENTRYPOINT ["/usr/local/bin/credvaultd"]
CMD ["serve", "--config=/etc/credvault/config/credvaultd.yaml"]
