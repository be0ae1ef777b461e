#!/bin/sh
# What the official nginx image's 20-envsubst-on-templates.sh does at start: renders every
# /etc/nginx/templates/*.template into $NGINX_ENVSUBST_OUTPUT_DIR, replacing only the variables
# defined in the environment, so that nginx's own $variables stay as they are.
set -eu
defined=$(env | cut -d= -f1 | sed 's/.*/${&}/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -e "$template" ] || continue
  envsubst "$defined" <"$template" >"${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}/$(basename "$template" .template)"
done
exec "$@"
