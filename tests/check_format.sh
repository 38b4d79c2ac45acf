#!/usr/bin/env bash
# Fails when a C source or header is not laid out as .clang-format says.
# Fix with `make format`. The frozen ABI 1.0 headers are left as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/fixtures/sdk-1.0/' || true)
if [[ -z $files ]]; then
  echo "not a git checkout: nothing to check"
  exit 0
fi
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
