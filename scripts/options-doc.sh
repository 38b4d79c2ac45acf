#!/usr/bin/env bash
# Rewrites the options table of docs/operations.md (between the
# <!-- options:begin --> and <!-- options:end --> lines) from the host's own
# declarations: `agenthost config options --markdown`. The ctest
# test_options fails while the two disagree.
#   scripts/options-doc.sh [path/to/agenthost]     (make docs)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/agenthost}
doc=docs/operations.md
[[ -x $bin ]] || { echo "options-doc: $bin is not built (make build)" >&2; exit 1; }
[[ $(grep -c '^<!-- options:begin -->$' "$doc") == 1 && $(grep -c '^<!-- options:end -->$' "$doc") == 1 ]] ||
  { echo "options-doc: $doc needs one <!-- options:begin --> and one <!-- options:end --> line" >&2; exit 1; }
table=$(mktemp)
out=$(mktemp)
trap 'rm -f "$table" "$out"' EXIT
"$bin" config options --markdown >"$table"
awk -v table="$table" '
  /^<!-- options:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /^<!-- options:end -->$/ { skip = 0 }
  !skip { print }
' "$doc" >"$out"
if cmp -s "$out" "$doc"; then
  echo "$doc: the options table is up to date"
else
  cat "$out" >"$doc"
  echo "$doc: the options table rewritten"
fi
