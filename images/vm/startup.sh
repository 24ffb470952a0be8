#!/usr/bin/env bash
# budgetml VM startup script: make sure Node.js is there, fetch the runtime bundle named in the
# instance metadata (cached on the boot disk by its content-addressed name), and hand over to its
# boot.cjs, which installs the predictor, reads the secrets and starts the services.
# Everything it prints goes to the serial console and Cloud Logging.
set -euo pipefail

ROOT="${BUDGET_ROOT:-}"                       # tests run the whole boot under a temporary root
METADATA="http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1"
STORAGE="${STORAGE_EMULATOR_HOST:-https://storage.googleapis.com}"
NODE_VERSION="${BUDGET_NODE_VERSION:-v20.18.1}"
HOME_DIR="$ROOT/opt/budgetml"

log() { echo "budgetml-startup: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

metadata() { curl -fsS --retry 5 --retry-connrefused -H "Metadata-Flavor: Google" "$METADATA/$1"; }
attribute() { metadata "instance/attributes/$1" || fail "instance metadata key $1 is missing"; }
access_token() {
  metadata "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

install_node() {
  if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
    return
  fi
  log "installing Node.js $NODE_VERSION"
  local tmp
  tmp="$(mktemp -d)"
  curl -fsSL --retry 5 "https://nodejs.org/dist/$NODE_VERSION/node-$NODE_VERSION-linux-x64.tar.xz" -o "$tmp/node.tar.xz" || fail "could not download Node.js"
  mkdir -p /usr/local/lib/nodejs
  tar -xJf "$tmp/node.tar.xz" -C /usr/local/lib/nodejs
  ln -sf "/usr/local/lib/nodejs/node-$NODE_VERSION-linux-x64/bin/"{node,npm,npx} /usr/local/bin/
  rm -rf "$tmp"
}

# Caddy fronts the runtime with HTTPS; docker runs a custom image. Debian's packages, once per disk.
install_packages() {
  local wanted=(caddy)
  [ -z "$(metadata instance/attributes/budget-image 2>/dev/null || true)" ] || wanted+=(docker.io)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" || fail "could not install ${missing[*]}"
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

# Downloads the runtime bundle into its own folder, named by content: a later boot with the same
# bundle finds it there and skips the download; a half-finished download never takes the name.
fetch_runtime() {
  local bucket="$1" object="$2" target="$HOME_DIR/runtime/${2%.tgz}"
  if [ -f "$target/server.cjs" ]; then
    log "runtime $object already installed"
  else
    log "fetching runtime $object from gs://$bucket"
    local partial="$target.partial.$$"
    rm -rf "$partial" && mkdir -p "$partial"
    download_retrying "$STORAGE/storage/v1/b/$bucket/o/$object?alt=media" "$partial/bundle.tgz" || fail "could not download gs://$bucket/$object"
    tar -xzf "$partial/bundle.tgz" -C "$partial" || fail "gs://$bucket/$object is not a valid runtime bundle"
    rm -f "$partial/bundle.tgz"
    [ -f "$partial/boot.cjs" ] || fail "gs://$bucket/$object has no boot.cjs"
    mv "$partial" "$target"
  fi
  ln -sfn "$target" "$HOME_DIR/runtime/current"
}

main() {
  mkdir -p "$HOME_DIR/runtime"
  if [ -z "$ROOT" ]; then # on a VM, not under a test or local root
    install_node
    install_packages
  fi
  local bucket runtime_object
  bucket="$(attribute budget-bucket)"
  runtime_object="$(attribute budget-runtime-object)"
  fetch_runtime "$bucket" "$runtime_object"
  log "handing over to boot.cjs"
  exec node "$HOME_DIR/runtime/current/boot.cjs" boot
}

main "$@"
