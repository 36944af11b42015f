#!/usr/bin/env bash
# A local cluster on loopback: one controller+ingress node (HTTP on
# 127.0.0.1:8080, cluster door on 127.0.0.1:7700) and three hosts, each with
# its own data directory, joined over mutual TLS with certificates made here.
# Usage: deploy/cluster.sh start|stop|status   (state in $CLUSTER_DIR,
# default ./troupe-cluster: data, certificates, logs, pids)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
dir=$(mkdir -p "${CLUSTER_DIR:-$PWD/troupe-cluster}" && cd "${CLUSTER_DIR:-$PWD/troupe-cluster}" && pwd)
nodes=(controller host-1 host-2 host-3)

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2> /dev/null; }

start() {
  [ -x "$build/bin/troupe-node" ] || { "$root/deploy/install-deps.sh"; "$root/deploy/build.sh"; }
  [ -f "$dir/certs/ca.pem" ] || "$root/deploy/make-certs.sh" "$dir/certs" "${nodes[@]}"
  [ -f "$dir/certs/admin.pem" ] || "$root/deploy/make-certs.sh" "$dir/certs" admin # the console's
  [ -s "$dir/admin.token" ] || (umask 077; head -c 24 /dev/urandom | base64 > "$dir/admin.token")
  for n in "${nodes[@]}"; do
    if running "$n"; then
      echo "cluster: $n is already running (pid $(cat "$dir/$n.pid"))"
      continue
    fi
    admin=()
    [ "$n" = controller ] && admin=(--admin.token-file="$dir/admin.token")
    "$build/bin/troupe-node" --config-file="$root/deploy/cluster/$n.ini" \
      --node.data-dir="$dir/$n" "${admin[@]}" \
      --openssl.certificate="$dir/certs/$n.pem" --openssl.key="$dir/certs/$n.key" \
      --openssl.cafile="$dir/certs/ca.pem" > "$dir/$n.out" 2> "$dir/$n.log" &
    echo $! > "$dir/$n.pid"
    # The hosts join the controller's door: it must listen first.
    for _ in $(seq 100); do
      grep -q "troupe-node: ready" "$dir/$n.out" 2> /dev/null && break
      running "$n" || { echo "cluster: $n exited; see $dir/$n.log" >&2; tail -5 "$dir/$n.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "cluster: started $n (pid $(cat "$dir/$n.pid"), log $dir/$n.log)"
  done
  for _ in $(seq 100); do
    [ "$(curl -s http://127.0.0.1:8080/troupe/hosts | grep -o '"Id"' | wc -l)" -eq 3 ] && break
    sleep 0.1
  done
  status
}

stop() {
  for ((i = ${#nodes[@]} - 1; i >= 0; i--)); do
    n=${nodes[$i]}
    if running "$n"; then
      pid=$(cat "$dir/$n.pid")
      kill "$pid"
      for _ in $(seq 200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
      echo "cluster: stopped $n"
    fi
    rm -f "$dir/$n.pid"
  done
}

status() {
  for n in "${nodes[@]}"; do
    if running "$n"; then echo "$n: running (pid $(cat "$dir/$n.pid"))"; else echo "$n: stopped"; fi
  done
  echo "hosts the scheduler places on:"
  curl -s http://127.0.0.1:8080/troupe/hosts || echo "(the controller does not answer)"
  echo
  echo "the admin console:"
  echo "  $build/bin/troupe-admin --connect 127.0.0.1:7790 --token-file $dir/admin.token \\"
  echo "    --openssl.certificate=$dir/certs/admin.pem --openssl.key=$dir/certs/admin.key \\"
  echo "    --openssl.cafile=$dir/certs/ca.pem"
  echo "metrics (Prometheus: deploy/prometheus/prometheus.yml; Grafana: deploy/grafana/troupe-dashboard.json):"
  echo "  http://127.0.0.1:9480/metrics (controller), :9481, :9482, :9483 (hosts)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
