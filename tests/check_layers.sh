#!/usr/bin/env bash
# The host's layers, file by file (docs/adr/0019-layers-in-the-build.md).
# The build fails a source that reads a header of a layer it does not
# DEPEND on (cmake/layer-cc.sh); this applies the same rules, those the
# build wrote to BUILD/layers/<layer>.rules, to every source and header of
# every layer alone, so that a header no source of its layer includes is
# held to them too. It also fails when:
#
#   a source or header in host/ lies in a directory no layer owns;
#
#   anything in host/ but the store (host/store/store*) and the bus's LMDB
#   backend (host/bus/lmdb/) reaches LMDB (lmdb.h, host/store/store_lmdb.h):
#   records go through store.h's typed face.
#
# Usage: check_layers.sh BUILD [C compiler].
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: check_layers.sh BUILD [C compiler]}
cc=${2:-cc}
launcher=cmake/layer-cc.sh

shopt -s nullglob
rules=("$build"/layers/*.rules)
[[ ${#rules[@]} -gt 0 ]] || {
  echo "check_layers: $build/layers/ holds no rules (configure the build first)" >&2
  exit 2
}

status=0
checked=0
for r in "${rules[@]}"; do
  own=$(sed -n 's/^own //p' "$r")
  # shellcheck disable=SC2086 # the directories are words
  for f in $(find $own -name '*.c' -o -name '*.h' | sort); do
    checked=$((checked + 1))
    "$launcher" --check "$r" "$cc" "$f" || status=1
  done
done

# Every source and header of the host belongs to a layer.
owned=$(cut -d' ' -f1 "$build/layers/owners")
for f in $(find host -name '*.c' -o -name '*.h' | sort); do
  found=0
  for d in $owned; do
    [[ $f == "$d"/* ]] && found=1 && break
  done
  if [[ $found -eq 0 ]]; then
    echo "$f lies in no layer's directory: declare it with ah_layer() in CMakeLists.txt" >&2
    status=1
  fi
done

# LMDB stays beneath the store: a direct include of lmdb.h (a system
# header, which -MM leaves out) or a reach of store_lmdb.h by any other way.
for f in $(find host -name '*.c' -o -name '*.h' | sort); do
  case $f in host/store/store*.[ch] | host/bus/lmdb/*) continue ;; esac
  if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*<lmdb\.h>' "$f"; then
    echo "$f includes lmdb.h: only the store and host/bus/lmdb/ may" >&2
    status=1
  fi
  if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*store_lmdb\.h"' "$f" ||
    "$cc" -x c -std=gnu17 -D_GNU_SOURCE -MM -MG -Ihost -I. -Isdk/include "$f" 2>/dev/null |
    grep -q 'store_lmdb\.h'; then
    echo "$f reaches host/store/store_lmdb.h: only the store and host/bus/lmdb/ may" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "check_layers: $checked files of ${#rules[@]} layers read only their layers and those below; every file of host/ has a layer; only the store and the bus backend reach LMDB"
exit $status
