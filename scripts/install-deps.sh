#!/usr/bin/env bash
# Installs the Debian packages FieldSync needs to build and test, skipping those already installed.
#
#   C libraries (headers and pkg-config files): libarchive-dev libsodium-dev libzstd-dev libsqlite3-dev libpq-dev
#                                               libcurl4-openssl-dev (notification delivery: SMTP, webhooks)
#   tools: pkg-config, sqlite3 (the shell), postgresql-15 (the throwaway server used by `make test`)
#
# `apt-get update` runs only when something is missing. Needs root (or sudo) only in that case.
# On a system without dpkg/apt-get it prints what it would need and does nothing.
set -euo pipefail

packages=(
    libarchive-dev
    libsodium-dev
    libzstd-dev
    libsqlite3-dev
    libpq-dev
    libcurl4-openssl-dev
    pkg-config
    sqlite3
    postgresql
    postgresql-15
)

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: no dpkg/apt-get here; make sure these (or their equivalents) are installed: ${packages[*]}" >&2
    exit 0
fi

is_installed() {
    # `dpkg -s` also succeeds for removed packages whose config files remain, so check the status line.
    dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} Debian packages already installed"
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "install-deps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
