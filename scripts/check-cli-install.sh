#!/usr/bin/env bash
# Proves the `agent-keyring` command installs as the README says: `npm pack` in the clone, then
# `npm install -g` of that tarball into a temporary prefix, then the command from another folder.
# Leaves nothing behind (the tarball and the prefix are removed).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/akr-cli-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log() { printf '[cli-install] %s\n' "$*"; }

cd "$REPO_ROOT"
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
log "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"
npm install -g --prefix "$work/prefix" --no-audit --no-fund "$work/$tarball" >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  log "ERROR: npm install -g of the packed tarball failed (output above)"
  exit 1
}
bin="$work/prefix/bin/agent-keyring"
[ -x "$bin" ] || { log "ERROR: $bin was not installed"; exit 1; }

mkdir -p "$work/elsewhere"
cd "$work/elsewhere"
export PATH="$work/prefix/bin:$PATH"
help=$(agent-keyring --help)
grep -q 'Usage: agent-keyring' <<<"$help" || { log "ERROR: 'agent-keyring --help' printed no usage"; echo "$help"; exit 1; }
# A real command against a store in this folder: it must run from the installed copy alone.
AGENT_KEYRING_STORE="$work/store" agent-keyring agent add ci-check --label "CI check" >"$work/agent.out" 2>&1
AGENT_KEYRING_STORE="$work/store" agent-keyring agent list | grep -q ci-check || {
  log "ERROR: 'agent-keyring agent list' does not show the agent just added"
  exit 1
}
log "ok: $(command -v agent-keyring) runs from $(pwd) (help, agent add, agent list)"
