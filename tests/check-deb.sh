#!/usr/bin/env bash
# Checks a Wren .deb without installing it: dpkg-deb can read it, its control file names the
# package and the libraries the app needs, the binary and icons are in it and every shared
# library the binary needs resolves, and its desktop file launches the app with a URL (%u) and
# registers it for sip:, sips:, tel: and callto: links (x-scheme-handler/...).
# Usage: tests/check-deb.sh FILE.deb
set -euo pipefail
if [[ $# -ne 1 || ! -f $1 ]]; then
  echo "usage: $0 FILE.deb" >&2
  exit 2
fi
deb=$1
fail() {
  echo "check-deb: FAIL: $*" >&2
  exit 1
}

info=$(dpkg-deb -I "$deb") || fail "dpkg-deb -I can't read $deb"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == wren ]] || fail "Package is '$(field Package)', expected wren"
[[ $(field Architecture) == "$(dpkg --print-architecture)" ]] || fail "Architecture $(field Architecture)"
depends=$(field Depends)
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libasound2; do
  grep -qw -- "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done

dir=$(mktemp -d /tmp/wren-deb.XXXXXX)
trap 'rm -rf "$dir"' EXIT
dpkg-deb -x "$deb" "$dir/root"
dpkg-deb -e "$deb" "$dir/DEBIAN"

bin="$dir/root/usr/bin/wren-desktop"
[[ -x $bin ]] || fail "no executable usr/bin/wren-desktop"
missing=$(ldd "$bin" | grep 'not found' || true)
[[ -z $missing ]] || fail "unresolved libraries: $missing"
ls "$dir"/root/usr/share/icons/hicolor/*/apps/wren-desktop.png >/dev/null 2>&1 ||
  fail "no icons under usr/share/icons/hicolor"

desktops=("$dir"/root/usr/share/applications/*.desktop)
[[ ${#desktops[@]} -eq 1 && -f ${desktops[0]} ]] || fail "expected one desktop file, found: ${desktops[*]}"
desktop=${desktops[0]}
mime=$(sed -n 's/^MimeType=//p' "$desktop")
for scheme in sip sips tel callto; do
  grep -q "\(^\|;\)x-scheme-handler/$scheme;" <<<"$mime;" ||
    fail "$(basename "$desktop") doesn't register x-scheme-handler/$scheme (MimeType=$mime)"
done
exec_line=$(sed -n 's/^Exec=//p' "$desktop")
grep -q '%[uU]' <<<"$exec_line" || fail "Exec=$exec_line passes no URL (%u) to the app"
command -v desktop-file-validate >/dev/null 2>&1 ||
  fail "desktop-file-validate not found: run tests/setup.sh (desktop-file-utils)"
desktop-file-validate "$desktop" || fail "desktop-file-validate rejects $(basename "$desktop")"

printf '%s\n' "$info" | sed -n 's/^ \(Package\|Version\|Installed-Size\|Depends\|Recommends\): /check-deb: \1: /p' >&2
echo "check-deb: $(basename "$desktop"): Exec=$exec_line MimeType=$mime" >&2
echo "check-deb: ok ($(basename "$deb"), $(du -k "$deb" | cut -f1) KiB)" >&2
