#!/usr/bin/env bash
# Makes sure a Docker daemon answers, starting Debian's dockerd in the background when none does
# (no systemd on our machines). Prints the PID of the dockerd it started, nothing if one was
# running: whoever started it stops it by that PID (the compose test does; `make up` leaves it).
# Its log: var/dockerd.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
answering() { docker info >/dev/null 2>&1; }
answering && exit 0
if ! command -v dockerd >/dev/null; then
  echo "No Docker daemon answers and dockerd is not installed (Debian: apt-get install docker.io)." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "No Docker daemon answers, and starting dockerd needs root." >&2
  exit 1
fi
mkdir -p var
setsid dockerd >var/dockerd.log 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 120); do
  if answering; then echo "$pid"; exit 0; fi
  kill -0 "$pid" 2>/dev/null || { echo "dockerd exited; its log: var/dockerd.log" >&2; tail -5 var/dockerd.log >&2; exit 1; }
  sleep 0.5
done
echo "dockerd did not answer within 60 seconds; its log: var/dockerd.log" >&2
kill "$pid"
exit 1
