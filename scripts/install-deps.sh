#!/usr/bin/env bash
# install-deps.sh: make sure the Debian 12 packages sesstrim builds and tests with are here.
# As root it installs what is missing with apt-get; otherwise it prints the exact command.
set -u
need=(build-essential pkg-config dpkg-dev libunwind-dev uthash-dev libdw-dev libelf-dev catch2 python3)
# Used by tests and benchmarks when present; installed too so CI measures the same things.
want=(sqlite3 git gcc heaptrack libjemalloc2 libtcmalloc-minimal4 chromium clang)

missing=()
for p in "${need[@]}" "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "sesstrim: missing Debian packages: ${missing[*]}" >&2
    echo "sesstrim: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    # Only the build dependencies are fatal.
    for p in "${need[@]}"; do
        printf '%s\n' "${missing[@]}" | grep -qx "$p" && exit 1
    done
    exit 0
fi
echo "sesstrim: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/sesstrim-apt.log 2>&1; then
    # Optional packages may be unavailable on a mirror: retry with the required ones alone.
    if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >>/tmp/sesstrim-apt.log 2>&1; then
        echo "sesstrim: apt-get failed, see /tmp/sesstrim-apt.log" >&2
        exit 1
    fi
fi
