#!/usr/bin/env bash
# Makes sure the Debian packages the gateway and the browser tests need are installed:
# nginx (the gateway), chromium (Playwright drives it) and fonts-noto-cjk (Chinese text in screenshots).
# Installs the missing ones with apt-get when running as root (apt-get update only if something is
# missing); otherwise stops with a message that says what to install.
# Usage: ensure-system-packages.sh [PACKAGE...]   (default: nginx chromium fonts-noto-cjk)
set -euo pipefail
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(nginx chromium fonts-noto-cjk)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing Debian packages: ${missing[*]}." >&2
  echo "Install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
  installed "$package" || { echo "apt-get did not install $package." >&2; exit 1; }
done
