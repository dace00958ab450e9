#!/usr/bin/env bash
# Makes the TLS material for one robot and its operator: a CA, the agent's server certificate, the
# controller's client certificate (P-256 keys, as the lab robot's). Files in DIR, private keys 0600.
#
#   demo-pki.sh DIR [NAME [SAN...]]     e.g. demo-pki.sh pki nixos-vm IP:192.168.122.10 IP:127.0.0.1
#
# DIR/ca.pem, DIR/agent.pem, DIR/agent.key go to the robot (/etc/ros-rollback/tls/ by default);
# DIR/ca.pem, DIR/controller.pem, DIR/controller.key stay with the controller (the inventory).
set -euo pipefail
dir=${1:?usage: demo-pki.sh DIR [NAME [SAN...]]}
name=${2:-nixos-vm}
shift $(($# < 2 ? $# : 2))
sans=("DNS:$name" "DNS:localhost" "IP:127.0.0.1" "$@")
if [ -e "$dir/ca.pem" ]; then
  echo "demo-pki: $dir/ca.pem exists; not overwriting (remove $dir to start over)" >&2
  exit 1
fi
mkdir -p "$dir"
chmod 700 "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca.key"
openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=ros-rollback CA $name" -days 3650 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.pem"

issue() { # BASE CN EXTENSIONS
  key "$dir/$1.key"
  openssl req -new -key "$dir/$1.key" -subj "/CN=$2" -out "$dir/$1.csr"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n' "$3" >"$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 825 -extfile "$dir/$1.ext" -out "$dir/$1.pem" 2>/dev/null
  rm -f "$dir/$1.csr" "$dir/$1.ext"
}

san=$(IFS=,; echo "${sans[*]}")
issue agent "$name" "extendedKeyUsage=serverAuth
subjectAltName=$san"
issue controller "ros-rollback controller" "extendedKeyUsage=clientAuth"
rm -f "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/agent.pem" "$dir/controller.pem"
echo "demo-pki: wrote $dir/{ca,agent,controller}.{pem,key} (agent SAN: $san)" >&2
