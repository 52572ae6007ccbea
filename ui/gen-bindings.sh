#!/usr/bin/env bash
# Regenerates ui/src/lib/bindings/ (TypeScript types of the engine's events, snapshot and
# errors) from the Rust types with ts-rs. `--check` regenerates into a scratch directory and
# fails, showing the difference, when the committed bindings are stale.
set -euo pipefail
ui=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$ui/.." && pwd)
dest="$ui/src/lib/bindings"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# serde_json writes u64 as a JSON number, so the bindings say `number`, not `bigint`.
(cd "$root" && TS_RS_EXPORT_DIR="$out" TS_RS_LARGE_INT=number \
  cargo test --quiet -p wren-engine --features ts --lib export_bindings >/dev/null)

if $check; then
  if ! diff -ru "$dest" "$out"; then
    echo "ui/src/lib/bindings is stale: run ui/gen-bindings.sh and commit the result" >&2
    exit 1
  fi
  echo "bindings up to date"
else
  mkdir -p "$dest"
  rm -f "$dest"/*.ts
  cp "$out"/*.ts "$dest"/
  echo "wrote $(ls "$out" | wc -l) files to ${dest#"$root"/}"
fi
