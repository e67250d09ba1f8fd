#!/usr/bin/env bash
# Soak: the seeds' secure portal (n1 -> n2 -> relay -> n3 -> a web server)
# under continuous downloads, each checked by sha256, while the relay
# node n2 runs in a process of its own that is killed (SIGKILL) and started
# again every 30 s. n1 and n3 run in one long-lived process, whose RSS and
# open descriptors are read at minute 1 and at the end.
#
#   testdata/soak/run.sh [SECONDS]      (default 600; needs curl, python3)
#
# Prints one line a minute, then the figures: downloads whole, downloads
# failed (cut by a restart: a reset or a short read, never a clean end),
# corrupted (a whole-looking download whose sha256 differs: must be 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-600}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export OCKAMTOP_HOME=$work/home
go build -o "$work/ockamtop" ./cmd/ockamtop
bin=$work/ockamtop

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port) n2port=$(free_port) inlet=$(free_port)
mkdir -p "$work/www"
head -c $((16 << 20)) /dev/urandom > "$work/www/blob"
want=$(sha256sum "$work/www/blob" | cut -d' ' -f1)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$web" >/dev/null 2>&1 &

sed -e "s/127.0.0.1:7000/127.0.0.1:$n2port/" -e "s/127.0.0.1:6000/127.0.0.1:$inlet/" \
  examples/secure_portal.hcl > "$work/soak.hcl"

start_n2() {
  "$bin" apply --node n2 --var target_port="$web" "$work/soak.hcl" >>"$work/n2.log" 2>&1 &
  n2pid=$!
}
start_n2
"$bin" apply --node n1 --node n3 --var target_port="$web" --ready-file "$work/ready.json" "$work/soak.hcl" >"$work/n13.log" 2>&1 &
n13pid=$!
for _ in $(seq 200); do [ -f "$work/ready.json" ] && break; sleep 0.1; done
[ -f "$work/ready.json" ] || { echo "n1 and n3 did not come up:"; cat "$work/n13.log"; exit 1; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$n13pid/status"; }
fds() { ls "/proc/$n13pid/fd" | wc -l; }

whole=0 failed=0 corrupt=0
rss1='' fds1=''
began=$(date +%s) last_restart=$began last_minute=$began
while now=$(date +%s); [ $((now - began)) -lt "$duration" ]; do
  if [ $((now - last_restart)) -ge 30 ]; then
    kill -9 "$n2pid" 2>/dev/null || true
    wait "$n2pid" 2>/dev/null || true
    start_n2
    last_restart=$now
  fi
  if [ -z "$rss1" ] && [ $((now - began)) -ge 60 ]; then
    rss1=$(rss) fds1=$(fds)
  fi
  if [ $((now - last_minute)) -ge 60 ]; then
    echo "$(( (now - began) / 60 )) min: $whole whole, $failed failed, $corrupt corrupted; rss $(rss) KiB, $(fds) fds"
    last_minute=$now
  fi
  if curl -sS -m 20 -o "$work/got" "http://127.0.0.1:$inlet/blob" 2>>"$work/curl.log"; then
    if [ "$(sha256sum "$work/got" | cut -d' ' -f1)" = "$want" ]; then
      whole=$((whole + 1))
    else
      corrupt=$((corrupt + 1))
      cp "$work/got" "$work/corrupt.$corrupt"
    fi
  else
    failed=$((failed + 1))
    sleep 0.2 # the route comes back within a second of n2
  fi
done
rss2=$(rss) fds2=$(fds)
echo "soak of ${duration}s: $whole downloads whole, $failed failed, $corrupt corrupted"
echo "ockamtop (n1, n3): rss ${rss1:-?} KiB at minute 1, $rss2 KiB at the end; fds ${fds1:-?} then $fds2"
[ "$corrupt" -eq 0 ]
