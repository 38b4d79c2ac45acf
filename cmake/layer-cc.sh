#!/usr/bin/env bash
# The compiler launcher of the host's layers (cmake/layers.cmake,
# docs/adr/0019-layers-in-the-build.md).
#
#   layer-cc.sh RULES COMPILER ARGS...   compile as CMake asks, then fail the
#                                        compile (the object deleted) if it
#                                        read a file the layer may not use
#   layer-cc.sh --check RULES CC FILE    the same verdict on FILE alone (a
#                                        header too), read with CC -MM as
#                                        the layer's sources are compiled
#
# RULES is build/layers/<layer>.rules: the layer's name, the project's
# directory, where layers live (layered), the public headers (public), its
# own directories, the layers it uses, the directories it may read
# (allowed: its own and those below it) and its include roots. A file read
# from below a layered directory, outside the public ones, must lie below
# an allowed one, whatever the include's spelling ("../", "x/../", a link);
# a source of the layer must lie in its own directories. The compiler's
# depfile (-MF, which CMake asks for) lists what it read; when the command
# asks for none, one is added.
set -uo pipefail

die() {
  echo "layer-cc.sh: $*" >&2
  exit 2
}

check_only=0
if [[ ${1:-} == --check ]]; then
  check_only=1
  shift
fi
[[ $# -ge 2 ]] || die "usage: layer-cc.sh [--check] RULES COMPILER ARGS..."
rules=$1
shift
[[ -r $rules ]] || die "cannot read the rules $rules (configure the build again)"

layer='' root='' layered=() public=() own=() allowed=() includes=()
while read -r key rest; do
  case $key in
  layer) layer=$rest ;;
  root) root=$rest ;;
  layered) read -ra layered <<<"$rest" ;;
  public) read -ra public <<<"$rest" ;;
  own) read -ra own <<<"$rest" ;;
  allowed) read -ra allowed <<<"$rest" ;;
  includes) read -ra includes <<<"$rest" ;;
  esac
done <"$rules"
[[ -n $layer && -n $root ]] || die "$rules names no layer or no root"

# under PATH DIR...: whether the relative PATH lies below one of the DIRs
under() {
  local p=$1 d
  shift
  for d in "$@"; do
    [[ $p == "$d"/* ]] && return 0
  done
  return 1
}

# owner PATH: the layer owning PATH, from build/layers/owners
owner() {
  local dir name
  while read -r dir name; do
    [[ $1 == "$dir"/* ]] && {
      echo "$name"
      return
    }
  done <"$(dirname "$rules")/owners"
  echo "no layer: declare its directory with ah_layer() in CMakeLists.txt"
}

# verdict SOURCE DEPFILE: 0 when every file DEPFILE lists may be read by the
# layer, else 1 with each file named on stderr, as a compiler error.
verdict() {
  local src=$1 depfile=$2 status=0 rel p
  local -a deps=() real=()
  # The depfile: "target: dep dep \" lines; paths hold no blanks here.
  mapfile -t deps < <(tr -s ' \t\134' '\n' <"$depfile" | grep -v -e ':$' -e '^$')
  [[ ${#deps[@]} -gt 0 ]] || die "the depfile $depfile lists nothing"
  # One realpath for them all, the source first.
  mapfile -t real < <(realpath -m -- "$src" "${deps[@]}")
  local srcrel=${real[0]#"$root"/}
  real=("${real[@]:1}")
  if under "$srcrel" "${layered[@]}" && ! under "$srcrel" "${public[@]}" &&
    ! under "$srcrel" "${own[@]}"; then
    echo "$src: error: layer $layer compiles a source of $(owner "$srcrel") (its own directories: ${own[*]})" >&2
    status=1
  fi
  for p in "${real[@]}"; do
    [[ $p == "$root"/* ]] || continue
    rel=${p#"$root"/}
    under "$rel" "${layered[@]}" || continue
    under "$rel" "${public[@]}" && continue
    under "$rel" "${allowed[@]}" && continue
    echo "$src: error: layer $layer reads $rel, of layer $(owner "$rel"); it may read only ${allowed[*]} (the layers it DEPENDS on in CMakeLists.txt)" >&2
    status=1
  done
  return $status
}

if [[ $check_only -eq 1 ]]; then
  [[ $# -eq 2 ]] || die "usage: layer-cc.sh --check RULES CC FILE"
  cc=$1 file=$2
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  incs=()
  for i in "${includes[@]}"; do incs+=(-I"$i"); done
  # A header it cannot find through the layer's include roots is one of a
  # layer above it ("api/api.h" from core), or no header at all.
  if ! out=$("$cc" -x c -std=gnu17 -D_GNU_SOURCE -MM "${incs[@]}" -MF "$tmp" "$file" 2>&1); then
    echo "$out" >&2
    echo "$file: error: layer $layer cannot read what it includes through its include roots (the layers it DEPENDS on in CMakeLists.txt)" >&2
    exit 1
  fi
  verdict "$file" "$tmp"
  exit $?
fi

# The compile: find its depfile, object and source.
args=("$@")
depfile='' obj='' src=''
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
  -MF) depfile=${args[i + 1]:-} ;;
  -MF?*) depfile=${args[i]#-MF} ;;
  -o) obj=${args[i + 1]:-} ;;
  -c) src=${args[i + 1]:-} ;;
  esac
done
tmp=
if [[ -z $depfile ]]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  depfile=$tmp
  set -- "$@" -MD -MF "$tmp"
fi
"$@" || exit $?
[[ -n $src ]] || exit 0 # not a compile of one source (CMake asks for none such)
if ! verdict "$src" "$depfile"; then
  [[ -n $obj ]] && rm -f -- "$obj"
  exit 1
fi
