#!/usr/bin/env bash
# Builds, once, a pristine Debian 12 root like a fresh VM's disk (systemd, curl, ca-certificates;
# no Node.js, no Caddy, and no xz-utils, which a minimal image may lack) and prints its path. Cached outside the checkout, keyed by
# the recipe below, so a changed recipe builds a new root and a finished root is never rebuilt.
# Tests boot an overlay on top of it (tests/vm/vmRoot.ts), so the cached root itself stays pristine.
#   BUDGET_VM_CACHE   cache folder (default /var/cache/budgetml)
#   BUDGET_VM_MIRROR  Debian mirror (default: the one in this machine's apt sources)
set -euo pipefail

CACHE="${BUDGET_VM_CACHE:-/var/cache/budgetml}"
SUITE=bookworm
INCLUDE=systemd,systemd-sysv,dbus,curl,ca-certificates,procps
log() { echo "debian-root: $*" >&2; }

# The mirror this machine's apt already uses (deb822 or one-line sources), else Debian's CDN.
mirror() {
  if [ -n "${BUDGET_VM_MIRROR:-}" ]; then echo "$BUDGET_VM_MIRROR"; return; fi
  local found
  found="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $3 == "bookworm" {print $2; exit}')"
  echo "${found:-http://deb.debian.org/debian}"
}

KEY="$(printf '%s\n' "$SUITE" "$INCLUDE" "recipe-2" | sha256sum | cut -c1-12)"
TARGET="$CACHE/debian12-$KEY"
if [ -f "$TARGET/.budgetml-root-complete" ]; then
  echo "$TARGET"
  exit 0
fi

command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # another run may be building the same root right now
if [ -f "$TARGET/.budgetml-root-complete" ]; then
  echo "$TARGET"
  exit 0
fi

PARTIAL="$TARGET.partial"
rm -rf "$PARTIAL"
MIRROR="$(mirror)"
log "building a Debian 12 root in $TARGET from $MIRROR (about 2 minutes, once)"
started=$SECONDS
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$PARTIAL" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
  { tail -20 "$CACHE/debootstrap.log" >&2; log "debootstrap failed (full log: $CACHE/debootstrap.log)"; exit 1; }

# What a GCE image has and a minbase root lacks.
cat >"$PARTIAL/etc/hosts" <<'HOSTS'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
HOSTS
echo budgetml-vm >"$PARTIAL/etc/hostname"
: >"$PARTIAL/etc/machine-id" # systemd generates one at first boot, as on a new VM
# No console to log in on: without these masks multi-user.target waits for a serial getty.
for unit in getty@.service serial-getty@.service console-getty.service getty.target \
  systemd-firstboot.service systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$PARTIAL/etc/systemd/system/$unit"
done
# Downloaded packages are not kept: the cached root stays as a fresh disk has it.
rm -rf "$PARTIAL"/var/cache/apt/archives/*.deb "$PARTIAL"/var/lib/apt/lists/*
touch "$PARTIAL/.budgetml-root-complete"
mv "$PARTIAL" "$TARGET"
log "built in $((SECONDS - started)) s: $(du -sh "$TARGET" | cut -f1)"
echo "$TARGET"
