#!/usr/bin/env bash
# The portal's throughput through the real binary, with and without --http:
# a 1 GiB stream from a client process through inlet n1 -> relay n2 ->
# outlet n3 to a sink process, next to the same stream sent directly to the
# sink in the same run. With --http, /metrics and /api/graph are fetched
# every second, as the live page and a fast Prometheus would.
#
#   topology/observe/testdata/bench/run.sh ROUNDS [OLD_BINARY]
#
# prints one line per run: mode (old: OLD_BINARY without --http; none: this
# tree without --http; http: this tree with it), portal and direct MB/s.
# Needs python3 and curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-5}
old=${2:-}
work=$(mktemp -d /tmp/ockamtop-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$here/../../../.." && go build -o "$work/ockamtop" ./cmd/ockamtop)
export OCKAMTOP_HOME=$work/home

one() {
  local mode=$1 bin=$work/ockamtop args=()
  [ "$mode" = old ] && bin=$old
  [ "$mode" = http ] && args=(--http 127.0.0.1:0)
  python3 "$here/sink.py" > "$work/sink.port" & local sink=$!
  until [ -s "$work/sink.port" ]; do sleep 0.05; done
  local port; port=$(cat "$work/sink.port")
  rm -f "$work/ready.json"
  "$bin" apply "${args[@]}" --ready-file "$work/ready.json" --var target_port="$port" "$here/portal.hcl" > "$work/apply.log" 2>&1 & local apply=$!
  until [ -s "$work/ready.json" ]; do kill -0 $apply; sleep 0.05; done
  local inlet; inlet=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["inlets"]["n1.web"])' "$work/ready.json")
  local scraper=
  if [ "$mode" = http ]; then
    local http; http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/ready.json")
    (while :; do curl -sf -o /dev/null "http://$http/metrics"; curl -sf -o /dev/null "http://$http/api/graph"; sleep 1; done) & scraper=$!
  fi
  local direct portal
  direct=$(python3 "$here/client.py" "127.0.0.1:$port" 1024)
  portal=$(python3 "$here/client.py" "$inlet" 1024)
  if [ -n "$scraper" ]; then kill $scraper; wait $scraper 2>/dev/null || true; fi
  kill -INT $apply; wait $apply || true
  kill $sink; wait $sink 2>/dev/null || true
  rm -f "$work/sink.port"
  echo "$mode portal_MBps=$portal direct_MBps=$direct"
}

modes=(none http)
[ -n "$old" ] && modes=(old none http)
for _ in $(seq "$rounds"); do
  for m in "${modes[@]}"; do one "$m"; done
done
