#!/usr/bin/env bash
# Runs credvault locally and shows it working (fresh Debian 12 machine, as root):
# installs what is missing, builds, starts a throwaway PostgreSQL, makes dev keys, TLS
# certificates and a policy, starts credvaultd (write and decrypt tiers in one process),
# runs a short demo with credvaultctl, prints how to connect, and keeps serving until
# Ctrl-C, which stops everything it started. State lives in .run/ (git-ignored).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/bootstrap.sh"

build="$root/build/release"
echo "== building (Release) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target credvaultd credvaultctl

stack="$root/.run"
"$root/scripts/dev-stack.sh" down "$stack" >/dev/null 2>&1 || true
rm -rf "$stack"
stop() {
  echo
  echo "== stopping credvaultd and PostgreSQL"
  "$root/scripts/dev-stack.sh" down "$stack"
}
trap stop EXIT
trap 'exit 0' INT TERM

echo "== starting PostgreSQL, migrating, making keys and certificates, starting credvaultd"
"$root/scripts/dev-stack.sh" up "$stack" "$build"
# shellcheck disable=SC1091
source "$stack/stack.env"
pki=$CREDVAULT_PKI
ctl="$build/cli/credvaultctl"
as_backend=(--ca-file "$pki/ca.pem" --cert-file "$pki/backend.pem" --key-file "$pki/backend.key" --addr "$CREDVAULT_WRITE_ADDR")
as_worker=(--ca-file "$pki/ca.pem" --cert-file "$pki/worker.pem" --key-file "$pki/worker.key" --addr "$CREDVAULT_DECRYPT_ADDR")
as_admin=(--ca-file "$pki/ca.pem" --cert-file "$pki/admin.pem" --key-file "$pki/admin.key" --addr "$CREDVAULT_DECRYPT_ADDR")

step() { echo; echo "\$ credvaultctl $*" | sed -e 's/--ca-file [^ ]* --cert-file [^ ]* --key-file [^ ]* --addr [^ ]* //'; }

echo
echo "== demo: a backend stores a CRM token for org acme; a worker uses it"
step "${as_backend[@]}" put acme crm/salesforce/token --label env=demo "<<< (secret on stdin)"
printf 'sk_demo_%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$stack/demo-secret"
"$ctl" "${as_backend[@]}" put acme crm/salesforce/token --label env=demo --secret-file "$stack/demo-secret"
step "${as_backend[@]}" list acme
"$ctl" "${as_backend[@]}" list acme
step "${as_backend[@]}" describe acme crm/salesforce/token
"$ctl" "${as_backend[@]}" describe acme crm/salesforce/token
step "${as_backend[@]}" compare acme crm/salesforce/token "<<< (candidate on stdin)"
"$ctl" "${as_backend[@]}" compare acme crm/salesforce/token --secret-file "$stack/demo-secret"
step "${as_worker[@]}" decrypt acme crm/salesforce/token --purpose "nightly contact sync" --output FILE
rm -f "$stack/decrypted"
"$ctl" "${as_worker[@]}" decrypt acme crm/salesforce/token --purpose "nightly contact sync" --output "$stack/decrypted"
if cmp -s "$stack/demo-secret" "$stack/decrypted"; then
  echo "decrypted value matches what was stored (written to $stack/decrypted, mode 0600)"
else
  echo "decrypted value does NOT match" >&2
  exit 1
fi
step "${as_backend[@]}" decrypt acme crm/salesforce/token --purpose test "   # the write tier cannot decrypt"
if "$ctl" "${as_backend[@]}" decrypt acme crm/salesforce/token --purpose test; then
  echo "the write listener answered a decrypt" >&2
  exit 1
fi
step "${as_admin[@]}" audit list acme
"$ctl" "${as_admin[@]}" audit list acme
step "${as_admin[@]}" audit verify acme
"$ctl" "${as_admin[@]}" audit verify acme

cat <<INFO

== credvault is running
  write listener    $CREDVAULT_WRITE_ADDR   (CredentialService; TLS, client certificates)
  decrypt listener  $CREDVAULT_DECRYPT_ADDR   (CredentialAccessService, AdminService)
  metrics           http://$CREDVAULT_METRICS_ADDR/metrics
  configuration     $CREDVAULT_CONFIG
  policy            $stack/policy.yaml (edit, then: kill -HUP $CREDVAULT_PID)
  log               $stack/credvaultd.log

  Try:
    $ctl --ca-file $pki/ca.pem --cert-file $pki/backend.pem --key-file $pki/backend.key \\
        --addr $CREDVAULT_WRITE_ADDR list acme

Press Ctrl-C to stop credvaultd and PostgreSQL.
INFO
while kill -0 "$CREDVAULT_PID" 2>/dev/null; do sleep 1; done
echo "credvaultd exited; see $stack/credvaultd.log" >&2
exit 1
