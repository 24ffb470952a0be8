#!/usr/bin/env bash
# budgetml VM startup script: make sure Node.js is there, fetch the runtime bundle named in the
# instance metadata (cached on the boot disk by its content-addressed name), and hand over to its
# boot.cjs, which installs the predictor, reads the secrets and starts the services.
# Everything it prints goes to the serial console and Cloud Logging.
set -euo pipefail

ROOT="${BUDGET_ROOT:-}"                       # tests run the whole boot under a temporary root
METADATA="http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1"
STORAGE="${STORAGE_EMULATOR_HOST:-https://storage.googleapis.com}"
# Node.js: a release line (then its newest release) or an exact version ("v26.1.0"). Line 26 is the
# Active LTS since 2026-10-28, supported until 2029-04-30 (github.com/nodejs/Release, schedule.json).
NODE_VERSION="${BUDGET_NODE_VERSION:-26}"
NODE_DIST="${BUDGET_NODE_DIST:-https://nodejs.org/dist}" # tests: a loopback mirror
NODE_HOME=/usr/local/lib/nodejs
APT_LOCK_WAIT_SECONDS="${BUDGET_APT_LOCK_WAIT_SECONDS:-600}"
HOME_DIR="$ROOT/opt/budgetml"

log() { echo "budgetml-startup: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
discard_and_fail() { rm -rf "$1"; fail "$2"; }

metadata() { curl -fsS --retry 5 --retry-connrefused -H "Metadata-Flavor: Google" "$METADATA/$1"; }
attribute() { metadata "instance/attributes/$1" || fail "instance metadata key $1 is missing"; }
access_token() {
  metadata "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

# Whether the installed node is the wanted one: of the wanted line, or exactly the wanted version.
node_is_wanted() {
  local installed
  installed="$(/usr/local/bin/node --version 2>/dev/null)" || return 1
  case "$NODE_VERSION" in
    v*) [ "$installed" = "$NODE_VERSION" ] ;;
    *) [ "${installed%%.*}" = "v$NODE_VERSION" ] ;;
  esac
}

# The official tarball, checked against its release's SHASUMS256.txt before anything is unpacked.
# Installed once per disk: later boots find it and do not touch the network for it.
install_node() {
  node_is_wanted && return
  local arch directory tmp file
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) fail "no Node.js build for $(uname -m)" ;;
  esac
  case "$NODE_VERSION" in
    v*) directory="$NODE_VERSION" ;;
    *) directory="latest-v$NODE_VERSION.x" ;;
  esac
  tmp="$(mktemp -d)"
  curl -fsSL --retry 5 "$NODE_DIST/$directory/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt" || fail "could not download $NODE_DIST/$directory/SHASUMS256.txt"
  file="$(grep -oE "node-v[0-9]+\.[0-9]+\.[0-9]+-linux-$arch\.tar\.xz$" "$tmp/SHASUMS256.txt" | head -1 || true)"
  [ -n "$file" ] || fail "$NODE_DIST/$directory/SHASUMS256.txt lists no linux-$arch tarball"
  log "installing Node.js ${file%-linux-*} from $NODE_DIST/$directory"
  curl -fsSL --retry 5 "$NODE_DIST/$directory/$file" -o "$tmp/$file" || fail "could not download $NODE_DIST/$directory/$file"
  (cd "$tmp" && grep "  $file\$" SHASUMS256.txt | sha256sum --check --status) || fail "$file does not match its SHA-256 in SHASUMS256.txt"
  apt_install xz-utils # tar -J runs xz, which a minimal image may lack (Debian: priority standard, not required)
  mkdir -p "$NODE_HOME"
  rm -rf "${NODE_HOME:?}/${file%.tar.xz}"
  tar -xJf "$tmp/$file" -C "$NODE_HOME" || fail "could not unpack $file"
  ln -sf "$NODE_HOME/${file%.tar.xz}/bin/"{node,npm,npx} /usr/local/bin/
  rm -rf "$tmp"
  node_is_wanted || fail "$file did not install a working node"
}

# On a first boot the image's own package jobs (unattended-upgrades, the guest agent) may hold apt's
# locks. apt-get install waits for the dpkg lock with DPkg::Lock::Timeout; apt-get update (apt 2.6)
# does not honour it for the lists lock, so any apt-get is retried while a lock is held.
# A boot stopped while dpkg ran (a preemption during the first boot's install) leaves dpkg's journal
# behind, and apt then refuses to run ("dpkg was interrupted, you must manually run 'dpkg
# --configure -a'": apt-pkg/deb/debsystem.cc checks /var/lib/dpkg/updates): finish it, then retry.
apt_get() {
  local deadline=$((SECONDS + APT_LOCK_WAIT_SECONDS)) output waiting=""
  while ! output="$(DEBIAN_FRONTEND=noninteractive apt-get -qq -o "DPkg::Lock::Timeout=$APT_LOCK_WAIT_SECONDS" "$@" 2>&1)"; do
    if [[ "$output" == *"dpkg was interrupted"* ]] && [ "$SECONDS" -lt "$deadline" ]; then
      log "a previous boot was interrupted while installing packages: dpkg --configure -a"
      DEBIAN_FRONTEND=noninteractive dpkg --force-confold --configure -a >&2 || sleep 2
      continue
    fi
    if [[ "$output" != *"Could not get lock"* ]] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$output" >&2
      return 1
    fi
    [ -n "$waiting" ] || log "waiting for the apt lock: $(grep -m1 'Could not get lock' <<<"$output")"
    waiting=1
    sleep 2
  done
}

# Installs the Debian packages among its arguments that are not installed (all there: no apt at all).
apt_install() {
  local missing=()
  for package in "$@"; do
    [ "$(dpkg-query -W -f '${Status}' "$package" 2>/dev/null)" = "install ok installed" ] || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  apt_get update || fail "apt-get update failed"
  apt_get install -y "${missing[@]}" || fail "could not install ${missing[*]}"
}

# Caddy fronts the runtime with HTTPS; docker runs a custom image. Debian's packages, once per disk.
# A replica behind Google's load balancer (budget-load-balancer) needs no Caddy: the load balancer
# terminates TLS and health-checks the runtime itself.
install_packages() {
  local wanted=()
  [ -n "$(metadata instance/attributes/budget-load-balancer 2>/dev/null || true)" ] || wanted+=(caddy)
  [ -z "$(metadata instance/attributes/budget-image 2>/dev/null || true)" ] || wanted+=(docker.io)
  apt_install "${wanted[@]}"
}

# Right after `pulumi up` the VM's grant on the bucket may not have propagated yet (IAM: usually
# within 2 minutes, up to 7 — https://cloud.google.com/iam/docs/access-change-propagation): a 403
# or 404 is retried with backoff for BUDGET_BOOT_RETRY_SECONDS (420); anything else fails at once.
download_retrying() {
  local url="$1" out="$2" deadline=$((SECONDS + ${BUDGET_BOOT_RETRY_SECONDS:-420})) delay=1 status
  while :; do
    status="$(curl -sS --retry 5 -o "$out" -w '%{http_code}' -H "Authorization: Bearer $(access_token)" "$url")" || return 1
    case "$status" in
      200) return 0 ;;
      403|404)
        [ $((SECONDS + delay)) -le "$deadline" ] || { log "$url: still $status"; return 1; }
        log "$url: $status; retrying in $delay s (grants and new objects can take minutes to appear)"
        sleep "$delay"
        delay=$((delay * 2 > 30 ? 30 : delay * 2)) ;;
      *) log "$url: HTTP $status"; return 1 ;;
    esac
  done
}

# True when FILE's sha256 starts with the 16 hex digits in its content-addressed name OBJECT
# (<kind>-<16 hex>.tgz, see bundles/bundleName.ts): what was downloaded is what was uploaded.
verify_bundle() {
  local file="$1" object="$2" expected digest
  [[ "$object" =~ ^(runtime|predictor)-([0-9a-f]{16})\.tgz$ ]] || return 1
  expected="${BASH_REMATCH[2]}"
  digest="$(sha256sum "$file" | cut -d' ' -f1)"
  [ "${digest:0:16}" = "$expected" ]
}

# Downloads the runtime bundle into its own folder, named by content: a later boot with the same
# bundle finds it there and skips the download; a half-finished download never takes the name.
# The name is checked before it is used as a path (a name like ../x would point elsewhere).
fetch_runtime() {
  local bucket="$1" object="$2" target="$HOME_DIR/runtime/${2%.tgz}"
  [[ "$object" =~ ^runtime-[0-9a-f]{16}\.tgz$ ]] || fail "gs://$bucket/$object is not a runtime bundle name (runtime-<16 hex digits of its sha256>.tgz)"
  if [ -f "$target/server.cjs" ]; then
    log "runtime $object already installed"
  else
    log "fetching runtime $object from gs://$bucket"
    local partial="$target.partial.$$"
    local bundle="$partial/bundle.tgz"
    rm -rf "$partial" && mkdir -p "$partial"
    # A refused bundle leaves nothing behind: its folder goes before the boot fails.
    download_retrying "$STORAGE/storage/v1/b/$bucket/o/$object?alt=media" "$bundle" || discard_and_fail "$partial" "could not download gs://$bucket/$object"
    verify_bundle "$bundle" "$object" || discard_and_fail "$partial" "gs://$bucket/$object does not match its name: its sha256 is $(sha256sum "$bundle" | cut -d' ' -f1)"
    # As boot.cjs unpacks bundles (images/vm/extractBundle.ts): owned by root whatever the archive
    # says, files and folders only, no setuid bits, modes independent of the umask.
    tar -xzf "$bundle" -C "$partial" --no-same-owner --no-same-permissions || discard_and_fail "$partial" "gs://$bucket/$object is not a valid runtime bundle"
    rm -f "$bundle"
    [ -z "$(find "$partial" ! -type f ! -type d -print -quit)" ] || discard_and_fail "$partial" "gs://$bucket/$object holds entries that are neither files nor folders"
    chmod -R u=rwX,go=rX "$partial"
    [ -f "$partial/boot.cjs" ] || discard_and_fail "$partial" "gs://$bucket/$object has no boot.cjs"
    # The watcher, started by systemd beside this script, may have installed the same bundle meanwhile.
    if ! mv -T "$partial" "$target" 2>/dev/null; then
      [ -f "$target/boot.cjs" ] || discard_and_fail "$partial" "could not move the runtime into $target"
      rm -rf "$partial"
    fi
  fi
  ln -sfn "$target" "$HOME_DIR/runtime/current"
}

main() {
  mkdir -p "$HOME_DIR/runtime"
  chmod 755 "$HOME_DIR" "$HOME_DIR/runtime" # the runtime's account reads its code under here
  if [ -z "$ROOT" ]; then # on a VM, not under a test or local root
    install_node
    install_packages
  fi
  local bucket runtime_object
  bucket="$(attribute budget-bucket)"
  runtime_object="$(attribute budget-runtime-object)"
  fetch_runtime "$bucket" "$runtime_object"
  log "handing over to boot.cjs"
  local node=node
  [ -n "$ROOT" ] || node=/usr/local/bin/node # the one install_node checked, whatever PATH holds
  exec "$node" "$HOME_DIR/runtime/current/boot.cjs" boot
}

main "$@"
