#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, start an all-in-one
# node on 127.0.0.1:8080 with the example functions deployed, print how to call
# them, and keep the node in the foreground until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
port=${PORT:-8080}
data=${DATA_DIR:-$root/troupe-data}
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"

# --auth.anonymous: the demo takes unsigned requests (development only; a
# real deployment gives --auth.tenants-file and clients sign with SigV4).
# The admin console listens on loopback without TLS, with a token made once.
admin_port=${ADMIN_PORT:-9470}
metrics_port=${METRICS_PORT:-9464}
mkdir -p "$data"
[ -s "$data/admin.token" ] || (umask 077; head -c 24 /dev/urandom | base64 > "$data/admin.token")
"$build/bin/troupe-node" --ingress.port="$port" --node.data-dir="$data" --auth.anonymous \
  --admin.listen="127.0.0.1:$admin_port" --admin.token-file="$data/admin.token" \
  --admin.plaintext --metrics.listen="127.0.0.1:$metrics_port" --log.format="${LOG_FORMAT:-text}" &
node=$!
trap 'kill "$node" 2>/dev/null; wait "$node" 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  kill -0 "$node" 2>/dev/null || { echo "demo: troupe-node exited" >&2; exit 1; }
  sleep 0.1
done

# deploy NAME RUNTIME HANDLER ZIP: CreateFunction through the Lambda API.
deploy() {
  local body status
  body=$(printf '{"FunctionName":"%s","Runtime":"%s","Handler":"%s","MemorySize":128,"Timeout":10,"Code":{"ZipFile":"%s"}}' \
    "$1" "$2" "$3" "$(base64 -w0 "$4")")
  status=$(printf '%s' "$body" | curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary @- \
    "http://127.0.0.1:$port/2015-03-31/functions")
  case "$status" in
    201) echo "demo: deployed $1" ;;
    409) echo "demo: $1 was already deployed" ;;
    *) echo "demo: deploying $1 failed with HTTP $status" >&2; exit 1 ;;
  esac
}
deploy shell-echo provided bootstrap "$build/examples/shell-echo.zip"
deploy cpp-echo provided bootstrap "$build/examples/cpp-echo.zip"
deploy python-echo python3.11 handler.handler "$build/examples/python-echo.zip"
deploy node-echo nodejs20.x index.handler "$build/examples/node-echo.zip"

cat <<MSG

Troupe is running on http://127.0.0.1:$port with four functions. Try:

  curl -s http://127.0.0.1:$port/2015-03-31/functions/cpp-echo/invocations -d '{"hello":"world"}'
  curl -s http://127.0.0.1:$port/fn/python-echo/any/path?x=1
  curl -s http://127.0.0.1:$port/2015-03-31/functions/node-echo/invocations -d '{"from":"node"}'
  curl -s http://127.0.0.1:$port/2015-03-31/functions/

The admin console (help lists its commands):

  $build/bin/troupe-admin --plaintext --connect 127.0.0.1:$admin_port --token-file $data/admin.token
  $build/bin/troupe-admin --plaintext --connect 127.0.0.1:$admin_port --token-file $data/admin.token -c "logs cpp-echo"

Prometheus metrics: curl -s http://127.0.0.1:$metrics_port/metrics
(the node logs for people here; LOG_FORMAT=json gives the JSON lines a log collector reads)

Ctrl-C stops the node (its data stays in $data).
MSG
wait "$node"
