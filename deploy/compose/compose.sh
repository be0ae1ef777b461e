#!/usr/bin/env bash
# Runs Docker Compose on docker-compose.yml: `docker compose` where that plugin exists, else the v1
# `docker-compose` (Debian 12 ships only that). Where the official images can be neither found
# nor pulled, it adds docker-compose.offline.yml and builds the stand-ins' two base images first.
# Starts dockerd when no daemon answers (deploy/docker/ensure-dockerd.sh) and leaves it running.
#   compose.sh ARGS...      e.g. compose.sh up -d --build;  compose.sh ps
# CRS_COMPOSE_OFFLINE=1 or 0 skips the registry check (the compose test sets 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/docker/ensure-dockerd.sh >/dev/null

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  echo "Neither 'docker compose' nor 'docker-compose' is installed (Debian: apt-get install docker-compose)." >&2
  exit 1
fi

# The stand-ins' base images (docker-compose.offline.yml reads these names).
export OFFLINE_DEBIAN_IMAGE=crs-offline-debian:bookworm OFFLINE_PYTHON_IMAGE=crs-offline-python:3.11
files=(-f docker-compose.yml -f docker-compose.offline.yml)
builds=false
case " $* " in *" up "* | *" build "*) builds=true ;; esac

if $builds && [ -z "${CRS_COMPOSE_OFFLINE:-}" ]; then
  # Online when every official image is here or can be pulled; a registry that cannot be reached
  # fails at once (no DNS), a slow one within the timeout.
  CRS_COMPOSE_OFFLINE=0
  for image in $(awk '$1 == "image:" {print $2}' docker-compose.yml); do
    docker image inspect "$image" >/dev/null 2>&1 && continue
    timeout 300 docker pull -q "$image" >/dev/null 2>&1 && continue
    echo "Cannot pull $image: using the offline stand-ins (docker-compose.offline.yml)." >&2
    CRS_COMPOSE_OFFLINE=1
    break
  done
fi
# Commands that build nothing (ps, port, down, exec...) work on either stack with both files.
if $builds && [ "$CRS_COMPOSE_OFFLINE" = 0 ]; then
  files=(-f docker-compose.yml)
elif $builds; then
  deploy/compose/offline/debian-base.sh "$OFFLINE_DEBIAN_IMAGE"
  docker build -q -t "$OFFLINE_PYTHON_IMAGE" --build-arg DEBIAN_IMAGE="$OFFLINE_DEBIAN_IMAGE" \
    - <deploy/compose/offline/python.Dockerfile >/dev/null
fi
exec "${compose[@]}" "${files[@]}" "$@"
