#!/usr/bin/env bash
# test_options_table.sh: README.md's options table lists exactly the options of the shim's
# table (preload/options.c, printed by `sesstrim options --tsv`), with the same defaults;
# a SESSTRIM_* typo gets one warning naming the closest option; SESSTRIM_LOG=offf is
# refused (not taken as a file name); a value out of an option's limits keeps the default.
set -eu
ROOT=${ST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${ST_BUILD:-$ROOT/build}
TMP=$(mktemp -d /tmp/st-opt-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$B/sesstrim" options --tsv | cut -f1,2 | sort >"$TMP/table"
# README rows: | `NAME` | `default` or unset | ... ; the default is the first token.
grep -E '^\| `SESSTRIM_[A-Z_]+` \|' "$ROOT/README.md" |
    sed -E 's/^\| `([A-Z_]+)` \| `?([^` |]*)`?[^|]*\|.*/\1\t\2/' | sort >"$TMP/readme"
[ -s "$TMP/table" ] && [ "$(wc -l <"$TMP/table")" -ge 15 ] || { echo "option table too short"; exit 1; }
if ! diff -u "$TMP/table" "$TMP/readme"; then
    echo "README.md's options table differs from preload/options.c (- library, + README)"; exit 1
fi

# sesstrim(7) documents every option with its default.
while IFS=$'\t' read -r name def; do
    grep -A1 "^\.B $name\$" "$ROOT/man/sesstrim.7" | grep -qF "Default: $(printf '%s' "$def" | sed 's/-/\\-/g')." ||
        { echo "man/sesstrim.7 lacks $name (default $def)"; exit 1; }
done <"$TMP/table"

# A typo: exactly one line, naming the closest option.
out=$(SESSTRIM_TRIMM=idle=1s LD_PRELOAD="$B/libsesstrim.so" /bin/true 2>&1)
[ "$(printf '%s\n' "$out" | grep -c 'SESSTRIM_TRIMM is not a sesstrim option (did you mean SESSTRIM_TRIM?)')" = 1 ] ||
    { echo "typo warning missing: $out"; exit 1; }
[ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] || { echo "more than one line: $out"; exit 1; }

# SESSTRIM_LOG=offf: refused, no file named offf created, default kept (warnings on stderr).
( cd "$TMP" && out=$(SESSTRIM_LOG=offf LD_PRELOAD="$B/libsesstrim.so" /bin/true 2>&1) &&
  printf '%s\n' "$out" | grep -q "SESSTRIM_LOG=offf is not valid" ) || { echo "SESSTRIM_LOG=offf accepted"; exit 1; }
[ ! -e "$TMP/offf" ] || { echo "SESSTRIM_LOG=offf created a file"; exit 1; }

# Limits come from the row: ARENA_MAX above 1024 refused, 1024 accepted.
SESSTRIM_ARENA_MAX=1025 LD_PRELOAD="$B/libsesstrim.so" /bin/true 2>&1 | grep -q "SESSTRIM_ARENA_MAX=1025 is not valid" ||
    { echo "limit not applied"; exit 1; }
[ -z "$(SESSTRIM_ARENA_MAX=1024 LD_PRELOAD="$B/libsesstrim.so" /bin/true 2>&1)" ] || { echo "1024 refused"; exit 1; }
# Every SESSTRIM_* variable the docs tell a user to set (README, docs/, man pages, the Python
# package), options or the tools' own, is known to the shim: none is called a typo. Names
# #defined in include/ are the dump format's constants, not variables.
macros=$(grep -rhoE '#define SESSTRIM_[A-Z0-9_]+' "$ROOT/include" | awk '{print $2}' | sort -u)
for name in $(grep -rhoE 'SESSTRIM_[A-Z][A-Z0-9_]*[A-Z0-9]' "$ROOT/README.md" "$ROOT"/docs/*.md "$ROOT"/man/* \
              "$ROOT"/python/sesstrim/*.py 2>/dev/null | sort -u); do
    printf '%s\n' "$macros" | grep -qx "$name" && continue
    out=$(env "$name=" LD_PRELOAD="$B/libsesstrim.so" /bin/true 2>&1)
    case $out in *"not a sesstrim option"*) echo "documented $name is called a typo: $out"; exit 1;; esac
done

echo "README table matches $(wc -l <"$TMP/table") options; typo and limit warnings as documented"
