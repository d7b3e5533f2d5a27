#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Makes a throw-away PKI for mutual TLS in DIR (default ./certs): ca.pem/ca-key.pem,
# server.pem/server-key.pem (for 127.0.0.1, ::1 and localhost) and client.pem/client-key.pem
# signed by the CA, plus other-ca.pem/other-client.pem/other-client-key.pem from an
# unrelated CA (what a stranger would present). Test setups only: keys are unencrypted.
set -euo pipefail
dir="${1:-certs}"
mkdir -p "$dir"
cd "$dir"
days=30
subj() { echo "/CN=$1/O=portlayer-test"; }

mk_ca() { # NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -keyout "$1-key.pem" -out "$1.pem" -subj "$(subj "$1")" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}

mk_leaf() { # NAME CA USAGE [SAN]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1-key.pem" \
    -out "$1.csr" -subj "$(subj "$1")" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$3"
    [ -n "${4:-}" ] && echo "subjectAltName=$4"
  } >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial \
    -days "$days" -out "$1.pem" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

mk_ca ca
mk_leaf server ca serverAuth "IP:127.0.0.1,IP:::1,DNS:localhost"
mk_leaf client ca clientAuth
mk_ca other-ca
mk_leaf other-client other-ca clientAuth
chmod 600 ./*-key.pem
echo "certificates in $(pwd)"
