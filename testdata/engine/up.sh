#!/usr/bin/env bash
# up.sh: make a Docker engine answer on this machine, as a single-node Swarm
# manager, for the end-to-end tests. Idempotent; run as root (CI is root).
#
#   - installs what is missing from Debian: docker.io (dockerd, containerd,
#     runc, the 20.10 client at /usr/bin/docker) and docker-compose (1.29);
#   - if `docker info` does not answer, starts dockerd in the background with
#     every address inside 198.19.0.0/16, logging to $DOCKERD_LOG;
#   - if the node is not a swarm manager yet, runs `docker swarm init`.
#
# Nothing is pulled from a registry: images must be built FROM scratch.
# Environment: DOCKERD_LOG (default /tmp/dockerd.log), DOCKERD_DEADLINE
# (seconds to wait for the daemon, default 90). See README.md beside this file.
set -euo pipefail

LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
DEADLINE=${DOCKERD_DEADLINE:-90}
BIP=198.19.250.1/24
LOCAL_POOL=198.19.0.0/17
SWARM_POOL=198.19.128.0/18

say() { echo "engine/up.sh: $*"; }
die() { echo "engine/up.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts dockerd)"

# The client: Debian's /usr/bin/docker (20.10, same as the daemon) if present.
# A newer client may sit earlier on PATH (/usr/local/bin/docker 28.x on these
# machines); it talks to the 20.10 daemon too, but we use the matching one here.
# (Set after the install below: /usr/bin/docker comes with docker.io.)
client() { "$CLIENT" "$@"; }
answers() { timeout 10 "$CLIENT" info >/dev/null 2>&1; }

# 1. Packages.
missing=()
if ! command -v dockerd >/dev/null 2>&1 || [ ! -x /usr/bin/docker ]; then missing+=(docker.io); fi
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing from Debian: ${missing[*]}"
  t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq || die "apt-get update failed"
  # No service is started by the install (no systemd; policy-rc.d may say 101).
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/tmp/engine-apt.log 2>&1 \
    || { tail -20 /tmp/engine-apt.log >&2; die "apt-get install ${missing[*]} failed (log: /tmp/engine-apt.log)"; }
  say "installed in $((SECONDS - t0)) s"
else
  say "packages present: dockerd, /usr/bin/docker, docker-compose"
fi

CLIENT=/usr/bin/docker
[ -x "$CLIENT" ] || die "$CLIENT missing after the install of docker.io"

# 2. The daemon.
if answers; then
  say "dockerd already answers"
else
  # dockerd starts its own containerd; it needs these on PATH.
  for b in dockerd containerd runc iptables; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found after install"
  done
  # A pid file left by a killed daemon whose process is gone is harmless
  # (dockerd overwrites it); one whose process still runs means a daemon that
  # does not answer: refuse rather than start a second one.
  if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    die "dockerd (pid $(cat /var/run/docker.pid)) runs but does not answer; see $LOG"
  fi
  say "starting dockerd --bip $BIP --default-address-pool base=$LOCAL_POOL,size=24 (log: $LOG)"
  t0=$SECONDS
  # setsid + nohup: the daemon outlives this script and its shell.
  # DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: a swarm task uses the local image
  # instead of first trying to pull it (and to pin its digest) from Docker Hub,
  # which this machine cannot reach (each try is a failed DNS lookup).
  DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid nohup dockerd \
    --bip "$BIP" \
    --default-address-pool "base=$LOCAL_POOL,size=24" \
    >>"$LOG" 2>&1 </dev/null &
  pid=$!
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$LOG" >&2
      die "dockerd exited before answering; see $LOG"
    fi
    if [ $((SECONDS - t0)) -ge "$DEADLINE" ]; then
      tail -20 "$LOG" >&2
      die "dockerd (pid $pid) did not answer within $DEADLINE s; see $LOG"
    fi
    sleep 1
  done
  say "dockerd (pid $pid) answers after $((SECONDS - t0)) s"
fi

dpid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ -n "$dpid" ] && ! tr '\0' '\n' <"/proc/$dpid/environ" 2>/dev/null | grep -qx DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1; then
  say "warning: dockerd (pid $dpid) runs without DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: swarm tasks will try Docker Hub before using the local image"
fi

# Every address must be in 198.19.0.0/16: refuse an engine started otherwise.
bridge=$(client network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' 2>/dev/null || true)
case "$bridge" in
  198.19.*) ;;
  *) die "the running engine's bridge network is '$bridge', not in 198.19.0.0/16: stop that dockerd and run this again" ;;
esac

# 3. Swarm.
state=$(client info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')
case "$state" in
  "active true")
    say "already a swarm manager" ;;
  inactive*)
    say "docker swarm init --advertise-addr 127.0.0.1 --default-addr-pool $SWARM_POOL"
    client swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
      --default-addr-pool "$SWARM_POOL" >/dev/null \
      || die "docker swarm init failed; see $LOG" ;;
  *)
    die "swarm state is '$state' (not a manager); 'docker swarm leave --force' and run this again" ;;
esac
pool=$(client info --format '{{range .Swarm.Cluster.DefaultAddrPool}}{{.}} {{end}}')
case "$pool" in
  198.19.*) ;;
  *) die "the swarm's default address pool is '$pool', not in 198.19.0.0/16: 'docker swarm leave --force' and run this again" ;;
esac

say "ready after $SECONDS s: daemon $(client version --format '{{.Server.Version}}'), client /usr/bin/docker $(/usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null), docker-compose $(docker-compose version --short 2>/dev/null), swarm pool $pool"
if [ "$(command -v docker)" != /usr/bin/docker ]; then
  say "note: 'docker' on PATH is $(command -v docker) ($(docker version --format '{{.Client.Version}}' 2>/dev/null || echo '?')), not Debian's /usr/bin/docker"
fi
