#!/usr/bin/env bash
# Installs the Debian packages agenthost needs to build, test and run.
# As root it installs what is missing; otherwise it prints the exact
# command to run and exits non-zero.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config clang lld libclang-rt-14-dev
  libuv1-dev liblmdb-dev lmdb-utils libjansson-dev libsodium-dev libseccomp-dev
  libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libgnutls28-dev libffi-dev libarchive-dev zlib1g-dev
  libcmocka-dev libyaml-dev libxml2-dev libjq-dev curl jq openssl ca-certificates tzdata
  libstemmer-dev libgmime-3.0-dev liboath-dev libpoppler-glib-dev)
BENCH_PKGS=(redis-server nats-server wrk)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--bench" || "${1:-}" == "--test" ]]; then
  want+=("${BENCH_PKGS[@]}")
fi

# The chat widget (admin/widget) is built with node and npm: Debian's, unless
# a node that brings its own npm (NodeSource) is already there. Its browser
# tests drive Debian's chromium headless.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  want+=(nodejs npm)
fi
# Real mail servers for the mail tests (tests/servers/mailserver.sh, ADR
# 0034): Dovecot for IMAP and LMTP, Postfix for SMTP. Each test run starts
# them with its own generated configuration; the packages' system services
# are not used.
MAIL_PKGS=(dovecot-imapd dovecot-lmtpd postfix)
if [[ "${1:-}" == "--test" ]]; then
  # gdb: test_debug_instance runs an instance under it; valgrind: test_sdk_install.
  want+=(chromium fonts-dejavu-core gdb valgrind "${MAIL_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "agenthost: missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "agenthost: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix asks what kind of mail system this is: none (the tests bring
# their own configuration), so nothing in /etc/postfix is made or started.
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
