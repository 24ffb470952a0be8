#!/usr/bin/env bash
# budgetml VM shutdown script (runs on preemption, within Google's ~30 s window): signal the
# restart topic first — so the restarter can start the VM the moment it is TERMINATED — then let
# the runtime drain in-flight predictions. Both steps live in boot.cjs, next to the boot logic.
set -uo pipefail

ROOT="${BUDGET_ROOT:-}"
BOOT="$ROOT/opt/budgetml/runtime/current/boot.cjs"

NODE=node
[ -n "$ROOT" ] || NODE=/usr/local/bin/node # the one startup.sh installed, whatever PATH holds

if [ -f "$BOOT" ]; then
  exec "$NODE" "$BOOT" shutdown
fi
echo "budgetml-shutdown: no runtime installed; nothing to drain" >&2
