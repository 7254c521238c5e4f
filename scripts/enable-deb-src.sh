#!/usr/bin/env bash
# enable-deb-src.sh: make `apt-get source` work on a Debian 12 machine whose apt lists only
# binary packages (deb822 sources with "Types: deb"): add the matching deb-src entries once.
set -eu
if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "sesstrim: apt has no deb-src entries; as root run: scripts/enable-deb-src.sh" >&2
    exit 1
fi
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types: deb$/Types: deb-src/' "$f" > "/etc/apt/sources.list.d/sesstrim-src-$(basename "$f")"
done
if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/sesstrim-src.list
fi
apt-get update -qq >/dev/null 2>&1 || true
