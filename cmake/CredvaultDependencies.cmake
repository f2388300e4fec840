# Every dependency comes from Debian 12's packages (see scripts/bootstrap.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium>=1.0.18)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx>=6.4)
# Kubernetes ServiceAccount token verification: JWS and JWK (Debian libcjose-dev).
pkg_check_modules(CJOSE REQUIRED IMPORTED_TARGET cjose>=0.6)
# Fetching that key set over https (Debian libcurl4-openssl-dev).
find_package(CURL REQUIRED)
find_package(GTest CONFIG REQUIRED)
if(CREDVAULT_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()
# credvaultctl: command line parsing and JSON documents (Debian libcli11-dev, nlohmann-json3-dev).
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
# Server configuration and policy files (Debian libyaml-cpp-dev; the target is `yaml-cpp`).
find_package(yaml-cpp CONFIG REQUIRED)
# Client certificate parsing for caller identity (Debian libssl-dev).
find_package(OpenSSL REQUIRED)
# Metrics endpoint (Debian prometheus-cpp-dev; its config needs libcivetweb-dev and libcurl).
find_package(prometheus-cpp CONFIG REQUIRED)
