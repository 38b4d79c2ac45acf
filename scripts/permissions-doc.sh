#!/usr/bin/env bash
# Rewrites the roles and permissions table of docs/security-model.md
# (between the <!-- permissions:begin --> and <!-- permissions:end --> lines)
# from the route table itself: `agenthost routes --markdown`. The ctest
# test_auth_roles fails while the two disagree.
#   scripts/permissions-doc.sh [path/to/agenthost]     (make docs)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/agenthost}
doc=docs/security-model.md
[[ -x $bin ]] || { echo "permissions-doc: $bin is not built (make build)" >&2; exit 1; }
[[ $(grep -c '^<!-- permissions:begin -->$' "$doc") == 1 && $(grep -c '^<!-- permissions:end -->$' "$doc") == 1 ]] ||
  { echo "permissions-doc: $doc needs one <!-- permissions:begin --> and one <!-- permissions:end --> line" >&2; exit 1; }
table=$(mktemp)
out=$(mktemp)
trap 'rm -f "$table" "$out"' EXIT
"$bin" routes --markdown >"$table"
awk -v table="$table" '
  /^<!-- permissions:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /^<!-- permissions:end -->$/ { skip = 0 }
  !skip { print }
' "$doc" >"$out"
if cmp -s "$out" "$doc"; then
  echo "$doc: the permissions table is up to date"
else
  cat "$out" >"$doc"
  echo "$doc: the permissions table rewritten"
fi
