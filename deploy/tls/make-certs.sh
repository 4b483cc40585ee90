#!/usr/bin/env bash
# Makes a test CA and certificates for workers and operators (mutual TLS).
#
#   make-certs.sh ca DIR                      DIR/ca.crt, DIR/ca.key (kept if present)
#   make-certs.sh issue DIR NAME [--role worker|operator] [SAN...]
#                                             DIR/NAME.crt, DIR/NAME.key signed by DIR/ca
#
# NAME becomes the certificate's common name and a DNS name in it: workers are
# verified by their worker name, whatever address they are dialled at. --role
# adds the URI SAN spiffe://volmigrate/ROLE/NAME: a workerd with
# [fleet] address_template takes any worker-role certificate as a peer and
# every workerd takes an operator-role one as an operator; without a role, a
# workerd admits peer calls only from certificates naming a configured peer.
# Extra SANs: ip:169.254.0.1, dns:w1.example. Keys are EC P-256, mode 0600.
# For tests and labs; production uses the operator's own PKI.
set -euo pipefail

usage() { sed -n '2,17p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
mkdir -p "$dir"
umask 077

case "$cmd" in
  ca)
    [ -s "$dir/ca.crt" ] && [ -s "$dir/ca.key" ] && exit 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/O=volmigrate/CN=volmigrate test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    chmod 0644 "$dir/ca.crt"
    ;;
  issue)
    [ $# -ge 3 ] || usage
    name=$3; shift 3
    [[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || { echo "make-certs.sh: bad name '$name'" >&2; exit 2; }
    [ -s "$dir/ca.key" ] || { echo "make-certs.sh: no CA in $dir (run: $0 ca $dir)" >&2; exit 1; }
    san="DNS:$name"
    if [ "${1:-}" = --role ]; then
      [[ "${2:-}" =~ ^(worker|operator)$ ]] || { echo "make-certs.sh: --role must be worker or operator" >&2; exit 2; }
      san="$san,URI:spiffe://volmigrate/$2/$name"; shift 2
    fi
    for s in "$@"; do
      case "$s" in
        ip:*) san="$san,IP:${s#ip:}" ;;
        dns:*) san="$san,DNS:${s#dns:}" ;;
        *) echo "make-certs.sh: SAN '$s' must be ip:ADDR or dns:NAME" >&2; exit 2 ;;
      esac
    done
    ext=$(mktemp)
    trap 'rm -f "$ext" "$dir/$name.csr"' EXIT
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n' "$san" > "$ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=volmigrate/CN=$name" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 825 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
    chmod 0644 "$dir/$name.crt"
    ;;
  *) usage ;;
esac
