#!/usr/bin/env bash
# Development and test TLS material for credvault, made with the openssl CLI.
#
#   scripts/dev-pki.sh [--force] OUTDIR
#
# Idempotent: when OUTDIR already holds a complete set (every file present, every leaf
# verifying against ca.pem with its purpose, nothing expiring within a day), it is kept as
# it is. --force makes a new set. Needs only openssl and coreutils; runs as root or not.
#
# Layout of OUTDIR (EC P-256 keys, SHA-256 signatures, 30 days of validity; private keys
# and tokens 0600, everything else 0644):
#   ca.pem, ca.key                   the test CA (CN=credvault dev CA)
#   server.pem, server.key           serverAuth; SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   backend.pem, backend.key         clientAuth; URI spiffe://credvault.test/backend
#   worker.pem, worker.key           clientAuth; URI spiffe://credvault.test/worker
#   admin.pem, admin.key             clientAuth; URI spiffe://credvault.test/admin
#   auditor.pem, auditor.key         clientAuth; URI spiffe://credvault.test/auditor
#   outsider.pem, outsider.key       clientAuth; URI spiffe://credvault.test/outsider
#                                    (valid, but named by no policy)
#   writetier.pem, writetier.key     clientAuth; URI spiffe://credvault.test/writetier
#                                    (a write-only credvaultd asking the key authority;
#                                    tests grant it key_authority_client)
#   dnsclient.pem, dnsclient.key     clientAuth; DNS dns-client.credvault.test only
#   cnclient.pem, cnclient.key       clientAuth; no SAN, CN=cn-client
#   untrusted-ca.pem, untrusted-ca.key
#                                    a second, unrelated CA that no server trusts
#   untrusted.pem, untrusted.key     clientAuth, issued by untrusted-ca; it claims
#                                    URI spiffe://credvault.test/backend, so a server that
#                                    looked at names before the chain would let it in
#   tokens/NAME.token                bearer token: 32 random bytes, base64url without
#                                    padding and without newline (NAME: backend, worker,
#                                    admin)
#   tokens/NAME.hash                 "blake2b256:" + hex of unkeyed BLAKE2b-256 of the
#                                    .token file's bytes (libsodium crypto_generichash,
#                                    32-byte output, no key), no newline
#
# The CN of each URI/DNS client differs from its SAN on purpose, so that tests can tell
# which one the server took as the principal (URI SAN, else DNS SAN, else CN).
set -euo pipefail

usage() { echo "usage: $0 [--force] OUTDIR" >&2; exit 2; }

force=0
outdir=
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) echo "dev-pki: unknown option $arg" >&2; usage ;;
    *) [[ -z "$outdir" ]] || usage; outdir=$arg ;;
  esac
done
[[ -n "$outdir" ]] || usage
command -v openssl >/dev/null || { echo "dev-pki: openssl not found (apt-get install openssl)" >&2; exit 1; }
command -v b2sum >/dev/null || { echo "dev-pki: b2sum not found (coreutils)" >&2; exit 1; }

DAYS=30
TRUST_DOMAIN=credvault.test
URI_CLIENTS=(backend worker admin auditor outsider writetier)
CLIENTS=("${URI_CLIENTS[@]}" dnsclient cnclient)
TOKENS=(backend worker admin)

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

# Every file of a complete set.
expected_files() {
  local n
  echo ca.pem; echo ca.key; echo server.pem; echo server.key
  for n in "${CLIENTS[@]}"; do echo "$n.pem"; echo "$n.key"; done
  echo untrusted-ca.pem; echo untrusted-ca.key; echo untrusted.pem; echo untrusted.key
  for n in "${TOKENS[@]}"; do echo "tokens/$n.token"; echo "tokens/$n.hash"; done
}

# Verifies the set in directory $1; prints the first problem and returns 1 if there is one.
verify_set() {
  local d=$1 f n
  while read -r f; do
    [[ -s "$d/$f" ]] || { echo "missing $f"; return 1; }
  done < <(expected_files)
  for f in ca server "${CLIENTS[@]}" untrusted-ca untrusted; do
    openssl x509 -noout -checkend 86400 -in "$d/$f.pem" >/dev/null \
      || { echo "$f.pem expires within a day"; return 1; }
  done
  openssl verify -CAfile "$d/ca.pem" -purpose sslserver -x509_strict "$d/server.pem" >/dev/null 2>&1 \
    || { echo "server.pem does not verify against ca.pem as a TLS server"; return 1; }
  for n in "${CLIENTS[@]}"; do
    openssl verify -CAfile "$d/ca.pem" -purpose sslclient -x509_strict "$d/$n.pem" >/dev/null 2>&1 \
      || { echo "$n.pem does not verify against ca.pem as a TLS client"; return 1; }
  done
  openssl verify -CAfile "$d/untrusted-ca.pem" -purpose sslclient "$d/untrusted.pem" >/dev/null 2>&1 \
    || { echo "untrusted.pem does not verify against its own CA"; return 1; }
  if openssl verify -CAfile "$d/ca.pem" "$d/untrusted.pem" >/dev/null 2>&1; then
    echo "untrusted.pem verifies against ca.pem"; return 1
  fi
  for n in server "${CLIENTS[@]}" untrusted; do
    # The key must belong to the certificate.
    [[ "$(openssl x509 -noout -pubkey -in "$d/$n.pem")" == "$(openssl pkey -pubout -in "$d/$n.key")" ]] \
      || { echo "$n.key does not match $n.pem"; return 1; }
  done
  for n in "${TOKENS[@]}"; do
    [[ "$(token_hash "$d/tokens/$n.token")" == "$(cat "$d/tokens/$n.hash")" ]] \
      || { echo "tokens/$n.hash does not match tokens/$n.token"; return 1; }
  done
  return 0
}

# "blake2b256:<hex>" of a file's exact bytes. b2sum -l 256 sets BLAKE2b's digest length
# parameter to 32 bytes (it does not truncate BLAKE2b-512), which is exactly libsodium's
# crypto_generichash(out, 32, in, inlen, NULL, 0).
token_hash() {
  local h
  h=$(b2sum -l 256 <"$1")
  printf 'blake2b256:%s' "${h%% *}"
}

if ((force == 0)) && problem=$(verify_set "$outdir"); then
  echo "dev-pki: $outdir already holds a complete set (ca, server, ${#CLIENTS[@]} clients, untrusted, ${#TOKENS[@]} tokens); kept (--force to remake)"
  exit 0
fi
if ((force == 0)) && [[ -e "$outdir/ca.pem" ]]; then
  echo "dev-pki: existing set in $outdir is incomplete or stale ($problem); remaking it" >&2
fi

umask 077
work=$(mktemp -d "$outdir/.dev-pki.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tokens"

serial() { echo "0x$(openssl rand -hex 16)"; }
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# make_ca NAME CN
make_ca() {
  local name=$1 cn=$2
  newkey "$work/$name.key"
  openssl req -new -x509 -sha256 -key "$work/$name.key" -out "$work/$name.pem" \
    -days "$DAYS" -set_serial "$(serial)" -subj "/O=credvault dev/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# make_leaf NAME CA CN EKU [SAN]
make_leaf() {
  local name=$1 ca=$2 cn=$3 eku=$4 san=${5:-}
  newkey "$work/$name.key"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid:always"
    [[ -z "$san" ]] || echo "subjectAltName=$san"
  } >"$work/$name.ext"
  openssl req -new -sha256 -key "$work/$name.key" -subj "/O=credvault dev/CN=$cn" \
    -out "$work/$name.csr" 2>/dev/null
  openssl x509 -req -sha256 -in "$work/$name.csr" -CA "$work/$ca.pem" -CAkey "$work/$ca.key" \
    -set_serial "$(serial)" -days "$DAYS" -extfile "$work/$name.ext" \
    -out "$work/$name.pem" 2>/dev/null
  rm -f "$work/$name.csr" "$work/$name.ext"
}

make_ca ca "credvault dev CA"
make_leaf server ca localhost serverAuth "DNS:localhost,IP:127.0.0.1,IP:::1"
for n in "${URI_CLIENTS[@]}"; do
  make_leaf "$n" ca "$n-cn" clientAuth "URI:spiffe://$TRUST_DOMAIN/$n"
done
make_leaf dnsclient ca dnsclient-cn clientAuth "DNS:dns-client.$TRUST_DOMAIN"
make_leaf cnclient ca cn-client clientAuth
make_ca untrusted-ca "credvault untrusted CA"
make_leaf untrusted untrusted-ca backend-cn clientAuth "URI:spiffe://$TRUST_DOMAIN/backend"

for n in "${TOKENS[@]}"; do
  openssl rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=\n' >"$work/tokens/$n.token"
  token_hash "$work/tokens/$n.token" >"$work/tokens/$n.hash"
done

chmod 0600 "$work"/*.key "$work"/tokens/*.token
chmod 0644 "$work"/*.pem "$work"/tokens/*.hash
chmod 0755 "$work/tokens"

if ! problem=$(verify_set "$work"); then
  echo "dev-pki: the new set failed its own check: $problem" >&2
  exit 1
fi

# Move into place: certificates and keys first, the CA last, so that an interrupted run
# leaves a set that verify_set rejects and the next run remakes.
mkdir -p "$outdir/tokens"
chmod 0755 "$outdir/tokens"
while read -r f; do
  [[ "$f" == ca.pem ]] || mv -f "$work/$f" "$outdir/$f"
done < <(expected_files)
mv -f "$work/ca.pem" "$outdir/ca.pem"

echo "dev-pki: wrote $outdir: ca, server (localhost 127.0.0.1 ::1), clients ${CLIENTS[*]}, untrusted (other CA), tokens ${TOKENS[*]}; valid $DAYS days"
