#!/usr/bin/env bash
# Makes sure the machine's RabbitMQ answers on 127.0.0.1:5672, starting it if it is installed.
set -euo pipefail
answering() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
answering && exit 0
if ! command -v rabbitmq-server >/dev/null; then
  echo "RabbitMQ is not answering on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
  echo "Install it (Debian package rabbitmq-server) or set AMQP_URL to a running broker." >&2
  exit 1
fi
echo "Starting RabbitMQ (rabbitmq-server -detached)..." >&2
rabbitmq-server -detached
for _ in $(seq 1 60); do answering && exit 0; sleep 1; done
echo "RabbitMQ did not start within 60 seconds." >&2
exit 1
