#!/usr/bin/env bash
# `npm run test:conformance`: the MCP conformance suite and a real third-party client against
# `agent-keyring serve` (dist/cli.js — `npm run test:conformance` builds it first).
#
#   scripts/conformance/run.sh                 run everything, exit non-zero on any failure
#   AKR_CACHE=/some/dir scripts/conformance/run.sh
#
# 1. Node 24 from the cache (installed by scripts/vscode/install.sh when missing), then
#    @modelcontextprotocol/conformance and @modelcontextprotocol/inspector, pinned, installed into
#    the cache with a marker file per version (a reused machine pays nothing).
# 2. A temp store with one credential and one agent; `agent-keyring serve` on a free port
#    (127.0.0.1, machine's Node); test/conformance/authProxy.mjs in front of it adds the token.
# 3. The applicable scenarios, one by one (APPLICABLE below); every other scenario the suite lists
#    must be in test/conformance/expected-failures.yaml with its reason, or the run fails.
# 3b. The same for protocol revision 2026-07-28 with the 0.2 suite (MODERN_APPLICABLE below, at that
#    revision's wire; test/conformance/expected-failures-2026-07-28.yaml lists the rest with reasons).
# 4. Origin check on its own (the suite's DNS-rebinding scenario sends bad Host and Origin together).
# 5. Inspector CLI (a real third-party client): get_credential over HTTP with a bearer header, and
#    through `agent-keyring bridge` over stdio; the value must come back.
# Every process started here is stopped by PID in the EXIT trap.
set -euo pipefail

CONFORMANCE_VERSION=0.1.16
# The 2026-07-28 revision's scenarios exist only in the 0.2 line (pinned; run at that revision's wire).
MODERN_CONFORMANCE_VERSION=0.2.0-alpha.12
MODERN_REVISION=2026-07-28
MODERN_APPLICABLE=(server-stateless tools-list resources-list sep-2164-resource-not-found dns-rebinding-protection caching server-sse-multiple-streams input-required-result-unsupported-methods)
INSPECTOR_VERSION=2.12.0
# Scenarios that test what this server does. resources-list checks our credential:// listing.
APPLICABLE=(server-initialize ping tools-list tools-call-error server-sse-multiple-streams dns-rebinding-protection resources-list)
# Passes without testing anything here: it calls the reference server's fixture tool, which we do
# not have, and still reports success. Neither counted nor listed as an expected failure (the
# suite would call such an entry stale).
IGNORED=(tools-call-simple-text)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${AKR_CACHE:-$HOME/.cache/agent-keyring-ci}"
MARKER=.akr-installed
# One source of truth for the Node 24 version: the newest VS Code build's in scripts/vscode/versions.json.
NODE_VERSION="$(node -p "require('$REPO_ROOT/scripts/vscode/versions.json').newest.node")"
NODE_DIR="$CACHE/node-$NODE_VERSION"
NODE24="$NODE_DIR/bin/node"
CONF_DIR="$CACHE/conformance-$CONFORMANCE_VERSION"
MODERN_CONF_DIR="$CACHE/conformance-$MODERN_CONFORMANCE_VERSION"
MODERN_EXPECTED="$REPO_ROOT/test/conformance/expected-failures-$MODERN_REVISION.yaml"
INSP_DIR="$CACHE/inspector-$INSPECTOR_VERSION"
EXPECTED="$REPO_ROOT/test/conformance/expected-failures.yaml"
CLI="${AKR_CLI:-$REPO_ROOT/dist/cli.js}"  # AKR_CLI: test another build of the CLI

log() { printf '[conformance] %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
TOTAL_START=$(now)

if [[ -z "$NODE_VERSION" ]]; then
  log "ERROR: cannot read the newest Node version from scripts/vscode/versions.json"
  exit 1
fi
if [[ ! -f "$CLI" ]]; then
  log "ERROR: $CLI is missing. Run 'npm run build' (npm run test:conformance does it)."
  exit 1
fi

# --- 1. tools --------------------------------------------------------------------------------
step=$(now)
if [[ ! -f "$NODE_DIR/$MARKER" || ! -x "$NODE24" ]]; then
  log "Node $NODE_VERSION not in $NODE_DIR: running scripts/vscode/install.sh"
  AKR_CACHE="$CACHE" bash "$REPO_ROOT/scripts/vscode/install.sh" newest
fi

# npm_install_pinned DIR PACKAGE@VERSION: global-style install into DIR with Node 24, marker file.
npm_install_pinned() {
  local dir="$1" spec="$2"
  if [[ -f "$dir/$MARKER" ]]; then
    log "$spec: cached in $dir"
    return
  fi
  exec 9>"$CACHE/.conformance-install.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [[ -f "$dir/$MARKER" ]]; then
    exec 9>&-
    return
  fi
  rm -rf "$dir" "$dir.tmp"
  log "npm install $spec"
  # Outside any project, like install.sh: a global-style install into its own prefix.
  (cd "$CACHE" && PATH="$NODE_DIR/bin:$PATH" npm install -g --prefix "$dir.tmp" --no-audit --no-fund "$spec" >/dev/null)
  mv "$dir.tmp" "$dir"
  echo "$spec $(date -u +%FT%TZ)" >"$dir/$MARKER"
  exec 9>&-
}
mkdir -p "$CACHE"
npm_install_pinned "$CONF_DIR" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
npm_install_pinned "$MODERN_CONF_DIR" "@modelcontextprotocol/conformance@$MODERN_CONFORMANCE_VERSION"
npm_install_pinned "$INSP_DIR" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION"
CONFORMANCE=("$NODE24" "$CONF_DIR/lib/node_modules/@modelcontextprotocol/conformance/dist/index.js")
MODERN_CONFORMANCE=("$NODE24" "$MODERN_CONF_DIR/lib/node_modules/@modelcontextprotocol/conformance/dist/index.js")
INSPECTOR=("$NODE24" "$INSP_DIR/lib/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js")
log "tools ready in $(elapsed "$step") s (node $("$NODE24" --version), conformance $("${CONFORMANCE[@]}" --version))"

# --- 2. server + proxy -----------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/akr-conformance-XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

STORE="$WORK/store"
CRED=conf_key
SCOPE=conf_read
AGENT=conformance
# A random, test-only value: it must come back through the third-party client.
VALUE="conf-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
TOKEN="$(node "$CLI" agent add "$AGENT" --store "$STORE" 2>/dev/null | tail -n1)"
printf '%s' "$VALUE" | node "$CLI" credential add "$CRED" --scopes "$SCOPE" --agents "$AGENT" --store "$STORE" >/dev/null

# wait_for_line FILE REGEX PID: prints the first match of REGEX in FILE, or fails when PID dies / 20 s pass.
wait_for_line() {
  local file="$1" re="$2" pid="$3" i
  for ((i = 0; i < 200; i++)); do
    if grep -Eo "$re" "$file" 2>/dev/null | head -n1 | grep .; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "ERROR: process $pid exited before it was ready:"
      cat "$file" "$file.err" 2>/dev/null | tail -n 20
      return 1
    fi
    sleep 0.1
  done
  log "ERROR: process $pid not ready after 20 s"
  return 1
}

node "$CLI" serve --store "$STORE" --port 0 >"$WORK/serve.out" 2>"$WORK/serve.out.err" &
PIDS+=($!)
SERVER_URL="$(wait_for_line "$WORK/serve.out" 'http://127\.0\.0\.1:[0-9]+/mcp' "${PIDS[-1]}")"
AKR_PROXY_TOKEN="$TOKEN" node "$REPO_ROOT/test/conformance/authProxy.mjs" --upstream "$SERVER_URL" \
  >"$WORK/proxy.out" 2>"$WORK/proxy.out.err" &
PIDS+=($!)
PROXY_PORT="$(wait_for_line "$WORK/proxy.out" 'LISTENING [0-9]+' "${PIDS[-1]}" | awk '{print $2}')"
PROXY_URL="http://127.0.0.1:$PROXY_PORT/mcp"
log "server $SERVER_URL, auth proxy $PROXY_URL"

FAILURES=()

# --- 3. scenarios ----------------------------------------------------------------------------
step=$(now)
mapfile -t LISTED < <("${CONFORMANCE[@]}" list --server | sed -n 's/^ *- \([a-z0-9-]*\).*/\1/p')
mapfile -t EXPECTED_LIST < <(sed -n 's/^ *- \([a-z0-9-]*\).*/\1/p' "$EXPECTED")
for s in "${LISTED[@]}"; do
  if [[ " ${APPLICABLE[*]} ${IGNORED[*]} " != *" $s "* && " ${EXPECTED_LIST[*]} " != *" $s "* ]]; then
    FAILURES+=("scenario '$s' (new in the suite?) is neither applicable nor listed in test/conformance/expected-failures.yaml")
  fi
done
for s in "${APPLICABLE[@]}"; do
  if [[ " ${LISTED[*]} " != *" $s "* ]]; then
    FAILURES+=("applicable scenario '$s' is not in 'conformance list --server' of $CONFORMANCE_VERSION")
  fi
done
for s in "${APPLICABLE[@]}"; do
  out="$WORK/scenario-$s.log"
  if "${CONFORMANCE[@]}" server --url "$PROXY_URL" --scenario "$s" -o "$WORK/results" >"$out" 2>&1; then
    log "PASS $s ($(sed -n 's/^Passed: \(.*\)/\1/p' "$out" | tail -n1))"
  else
    log "FAIL $s"
    sed 's/^/    /' "$out" | tail -n 40
    FAILURES+=("scenario $s")
  fi
done
# The whole active suite against the baseline file: a listed scenario that starts passing (say,
# prompts were added) is reported as stale, so the file stays true.
if "${CONFORMANCE[@]}" server --url "$PROXY_URL" --expected-failures "$EXPECTED" -o "$WORK/results-all" \
  >"$WORK/suite.log" 2>&1; then
  log "PASS active suite against test/conformance/expected-failures.yaml"
else
  log "FAIL active suite against test/conformance/expected-failures.yaml:"
  sed -n '/Expected failures\|Stale\|Unexpected/,$p' "$WORK/suite.log" | sed 's/^/    /' | tail -n 30
  FAILURES+=("active suite vs expected-failures.yaml")
fi
log "scenarios: $(elapsed "$step") s"

# --- 3b. the 2026-07-28 revision (stateless, per-request _meta) on the same /mcp -----------------
step=$(now)
mapfile -t MODERN_LISTED < <("${MODERN_CONFORMANCE[@]}" list --server --requirements "$MODERN_REVISION" |
  sed -n '/^Server scenarios/,/^$/s/^ *- \([a-z0-9-]*\).*/\1/p')
mapfile -t MODERN_NA < <(sed -n '/^server:/,/^[a-z]/s/^ *- \([a-z0-9-]*\).*/\1/p' "$MODERN_EXPECTED")
mapfile -t MODERN_CHECKS < <(sed -n '/^checks:/,$s/^ *- \([a-z0-9-]*\).*/\1/p' "$MODERN_EXPECTED")
if [[ ${#MODERN_LISTED[@]} -eq 0 ]]; then
  FAILURES+=("conformance $MODERN_CONFORMANCE_VERSION listed no server scenarios for $MODERN_REVISION")
fi
for s in "${MODERN_LISTED[@]}"; do
  if [[ " ${MODERN_APPLICABLE[*]} ${MODERN_NA[*]} " != *" $s "* ]]; then
    FAILURES+=("$MODERN_REVISION scenario '$s' is neither applicable nor listed in $(basename "$MODERN_EXPECTED")")
  fi
done
for s in "${MODERN_APPLICABLE[@]}"; do
  out="$WORK/modern-$s.log"
  "${MODERN_CONFORMANCE[@]}" server --url "$PROXY_URL" --scenario "$s" --spec-version "$MODERN_REVISION" \
    -o "$WORK/results-modern" >"$out" 2>&1 || true
  # Failed check ids ("[check-id   ] FAILURE ..."), colour codes removed.
  mapfile -t failed < <(sed 's/\x1b\[[0-9;]*m//g' "$out" | sed -n 's/.*\[\([a-z0-9-]*\) *\] FAILURE.*/\1/p' | sort -u)
  unexpected=()
  for c in "${failed[@]}"; do
    if [[ " ${MODERN_CHECKS[*]} " != *" $c "* ]]; then
      unexpected+=("$c")
    fi
  done
  if ! grep -q '^Passed:' "$out"; then
    unexpected+=("(no result)")
  fi
  if [[ ${#unexpected[@]} -eq 0 ]]; then
    log "PASS $MODERN_REVISION $s ($(sed -n 's/^Passed: \(.*\)/\1/p' "$out" | tail -n1))"
  else
    log "FAIL $MODERN_REVISION $s: ${unexpected[*]}"
    sed 's/^/    /' "$out" | tail -n 40
    FAILURES+=("$MODERN_REVISION scenario $s")
  fi
done
log "$MODERN_REVISION scenarios: $(elapsed "$step") s"

# --- 4. Origin on its own --------------------------------------------------------------------
if AKR_TOKEN="$TOKEN" node "$REPO_ROOT/test/conformance/originCheck.mjs" "$SERVER_URL" >"$WORK/origin.log" 2>&1; then
  log "PASS origin check ($(grep -c '^ok' "$WORK/origin.log") cases)"
else
  log "FAIL origin check"
  sed 's/^/    /' "$WORK/origin.log"
  FAILURES+=("origin check")
fi

# --- 5. Inspector CLI: a real third-party client -----------------------------------------------
step=$(now)
export MCP_CATALOG_PATH="$WORK/inspector-catalog.json" # never touch ~/.mcp-inspector
# inspector_get LABEL ARGS...: runs the Inspector CLI; passes when the credential's value is in its output.
inspector_get() {
  local label="$1" code=0
  shift
  # Options first, then `--` and the target (URL or command): --tool-arg and --header are variadic.
  timeout 60 "${INSPECTOR[@]}" --cli --method tools/call --tool-name get_credential \
    --tool-arg "name=$CRED" "scope=$SCOPE" "$@" >"$WORK/inspector-$label.out" 2>"$WORK/inspector-$label.err" </dev/null || code=$?
  if [[ $code -eq 0 ]] && grep -qF "$VALUE" "$WORK/inspector-$label.out"; then
    log "PASS inspector $label: get_credential returned the value"
  else
    log "FAIL inspector $label (exit $code; 4 = no connection, 5 = tool error); output without the value:"
    sed "s/$VALUE/[VALUE]/g; s/^/    /" "$WORK/inspector-$label.out" "$WORK/inspector-$label.err" | tail -n 30
    FAILURES+=("inspector $label")
  fi
}
PATH="$NODE_DIR/bin:$PATH" inspector_get http --transport http --header "Authorization: Bearer $TOKEN" -- "$SERVER_URL"
PATH="$NODE_DIR/bin:$PATH" inspector_get stdio-bridge --transport stdio -e "AGENT_KEYRING_TOKEN=$TOKEN" -- \
  "$(command -v node)" "$CLI" bridge --url "$SERVER_URL"
log "inspector: $(elapsed "$step") s"

# --- result ----------------------------------------------------------------------------------
if [[ ${#FAILURES[@]} -gt 0 ]]; then
  log "FAILED (${#FAILURES[@]}):"
  printf '  - %s\n' "${FAILURES[@]}"
  log "total: $(elapsed "$TOTAL_START") s"
  exit 1
fi
log "all passed: ${#APPLICABLE[@]} scenarios at 2025-11-25, ${#MODERN_APPLICABLE[@]} at $MODERN_REVISION, origin check, inspector over HTTP and stdio; total $(elapsed "$TOTAL_START") s"
