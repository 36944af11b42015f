#!/usr/bin/env bash
# Makes a cluster CA and one certificate per node, signed by it, with the
# openssl command: every node presents its certificate and accepts only peers
# whose certificate this CA signed (caf_openssl's mutual check).
# Usage: deploy/make-certs.sh DIR NODE...   (an existing DIR/ca.pem is reused)
# Writes DIR/ca.pem (give it to every node as openssl.cafile), DIR/ca.key
# (keep it off the nodes), and DIR/NODE.pem + DIR/NODE.key for each NODE
# (openssl.certificate and openssl.key of that node).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DIR NODE..." >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
umask 077
days=${CERT_DAYS:-825}
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$days" -subj "/CN=troupe cluster CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2> /dev/null
fi
for node in "$@"; do
  case "$node" in
    *[!A-Za-z0-9._-]* | "") echo "$0: bad node name '$node'" >&2; exit 2 ;;
  esac
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$dir/$node.key" -out "$dir/$node.csr" -subj "/CN=$node" 2> /dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s\n' "$node" > "$dir/$node.ext"
  openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$node.pem" -days "$days" -extfile "$dir/$node.ext" 2> /dev/null
  rm -f "$dir/$node.csr" "$dir/$node.ext"
done
chmod 644 "$dir/ca.pem"
echo "make-certs: CA and certificates for $* in $dir"
