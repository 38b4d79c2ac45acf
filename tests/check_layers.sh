#!/usr/bin/env bash
# Fails when a host module reaches a layer above it through #include.
# Every source and header of the lower layer is run through the compiler's
# preprocessor (-MM: the headers it reads, transitively, as the build finds
# them), so an include through another header or the -I host path counts too.
#
#   host/bus/, host/broker/   nothing from host/plugin/ or host/services/
#   host/plugin/              nothing from host/bus/, host/broker/ or host/services/
#
#   everything in host/ but the store (host/store/store*) and the bus's LMDB backend:
#                             nothing of LMDB (lmdb.h, host/store/store_lmdb.h):
#                             records go through store.h's typed face
#
# The services (host/services/) sit above them all and wire plugins to the
# bus, the store and the broker. Usage: check_layers.sh [C compiler].
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${1:-cc}

# layer directory, then the directories it must not reach
rules=(
  "host/bus host/plugin host/services"
  "host/broker host/plugin host/services"
  "host/plugin host/bus host/broker host/services"
)

status=0
for rule in "${rules[@]}"; do
  read -r layer forbidden <<<"$rule"
  files=$(find "$layer" -name '*.c' -o -name '*.h' | sort)
  [[ -n $files ]] || { echo "check_layers: $layer holds no sources" >&2; exit 1; }
  for f in $files; do
    # -MG: a header it cannot find is listed, not fatal (system headers
    # this machine may lack say nothing about layers).
    deps=$("$cc" -x c -std=gnu17 -D_GNU_SOURCE -MM -MG -Ihost -Isdk/include "$f" 2>&1) || {
      echo "check_layers: $cc cannot read $f:" >&2
      echo "$deps" >&2
      exit 1
    }
    # shellcheck disable=SC2013 # the rule lists paths as words, several a line
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' <<<"$deps"); do
      [[ $dep == "$f" ]] && continue
      rel=$(realpath -m --relative-to=. "$dep")
      for bad in $forbidden; do
        if [[ $rel == "$bad"/* ]]; then
          echo "$f reaches $rel: $layer must include nothing from $bad/" >&2
          status=1
        fi
      done
    done
  done
done
# LMDB stays beneath the store: a direct include of lmdb.h (a system
# header, which -MM leaves out) or a reach of store_lmdb.h by any other way.
for f in $(find host -name '*.c' -o -name '*.h' | sort); do
  case $f in host/store/store*.[ch] | host/bus/lmdb/*) continue ;; esac
  if grep -Eq '^[[:space:]]*#[[:space:]]*include[[:space:]]*<lmdb\.h>' "$f"; then
    echo "$f includes lmdb.h: only the store and host/bus/lmdb/ may" >&2
    status=1
  fi
  if "$cc" -x c -std=gnu17 -D_GNU_SOURCE -MM -MG -Ihost -Isdk/include "$f" 2>/dev/null | grep -q 'store_lmdb\.h'; then
    echo "$f reaches host/store/store_lmdb.h: only the store and host/bus/lmdb/ may" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "check_layers: the bus, the broker and the supervisor reach no layer above them; only the store and the bus backend reach LMDB"
exit $status
