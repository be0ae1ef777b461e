#!/usr/bin/env bash
# Builds the Debian base image the offline stand-ins start from, where no image registry answers:
# debootstrap's minimal bookworm from the mirror apt already uses, imported into Docker.
# Usage: debian-base.sh IMAGE   (does nothing when IMAGE exists; needs root)
set -euo pipefail
image=$1
docker image inspect "$image" >/dev/null 2>&1 && exit 0
# The first Debian mirror in apt's sources: deb822 (URIs:) or one-line (deb URL SUITE ...) form.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 !~ /security/ {print $2; exit}')
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
  | awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}')
[ -n "$mirror" ] || { echo "No Debian mirror found in /etc/apt/sources.list*." >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "Building $image with debootstrap from $mirror..." >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# apt in the image uses the same mirror; nothing is cached in the image.
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import - "$image" >/dev/null
