#!/bin/sh
# Debian's RabbitMQ is 3.10, and docker-compose.yml configures the official 4.x image: the settings
# 3.10 does not know stop it at boot, so it reads a copy of conf.d without them (from
# RABBITMQ_CONFIG_FILES). Dropped: default_queue_type (our queues ask for the quorum type themselves).
set -eu
mkdir -p "$RABBITMQ_CONFIG_FILES"
rm -f "$RABBITMQ_CONFIG_FILES"/*.conf  # it lives on the data volume: no file of an earlier start stays
for conf in /etc/rabbitmq/conf.d/*.conf; do
  grep -v '^[[:space:]]*default_queue_type[[:space:]]*=' "$conf" >"$RABBITMQ_CONFIG_FILES/$(basename "$conf")"
done
exec "$@"
