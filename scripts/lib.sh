# Shared by scripts/run, scripts/test and scripts/bench: install what is missing, build the front-end.
# Sourced, not executed.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
# need_apt PACKAGE...: installs the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing from Debian: ${missing[*]}"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_cmd COMMAND PACKAGE...: installs the packages when the command is missing.
need_cmd() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 || need_apt "$@"
}

need_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is missing. Install Rust 1.88 or newer with rustup (https://rustup.rs), then run this again." >&2
    exit 1
  fi
}

# cargo-fuzz (from crates.io) for scripts/fuzz. It drives libFuzzer through rustc flags that
# stable Rust accepts with RUSTC_BOOTSTRAP=1, so no other toolchain is needed.
need_cargo_fuzz() {
  need_cmd g++ g++ # libFuzzer is C++
  if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.'; then
    say "installing cargo-fuzz"
    cargo install --locked cargo-fuzz --version '^0.13'
  fi
}

# npm_ci DIR: installs a folder's npm packages from its lockfile when they changed.
npm_ci() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "installing npm packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Bundles the web UI's npm packages into web/dist, which the binary embeds.
build_web() {
  need_cmd node nodejs
  need_cmd npm npm
  npm_ci web
  (cd web && npm run --silent build)
}

# Installs the Python test tools (schemathesis, SeaweedFS) into .venv when they changed.
python_tools() {
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt python3-venv; fi
  if [ ! -x .venv/bin/schemathesis ] || ! cmp -s requirements-test.txt .venv/requirements-test.txt; then
    say "installing the Python test tools into .venv (schemathesis, SeaweedFS)"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
    cp requirements-test.txt .venv/requirements-test.txt
  fi
}

# Starts the S3 test store (SeaweedFS, on loopback, from .venv), exports its CITYX_TEST_S3_*
# variables and stops it, with its data, when the calling script exits.
start_s3_test_store() {
  say "starting the S3 test store (SeaweedFS)"
  s3dir=$(mktemp -d)
  trap 'kill -9 "$(cat "$s3dir/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$s3dir"' EXIT
  eval "$(scripts/s3-test-server "$s3dir")"
}
