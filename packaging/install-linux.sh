#!/usr/bin/env bash
# Install the PixelGuard bundle for the current user, no root needed: run it from the unpacked
# bundle folder (./install.sh). It copies the bundle to ~/.local/opt/PixelGuard, links
# `pixelguard` and `pixelguard-gui` into ~/.local/bin, and puts the menu entry, the icons and
# the AppStream metainfo under ~/.local/share. `./install.sh --uninstall` removes all of it
# (never the cache of downloaded models, ~/.cache/pixelguard).
set -euo pipefail
app=io.github.pixelguard.PixelGuard
bundle=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=${PIXELGUARD_BIN_DIR:-$HOME/.local/bin}
target=${PIXELGUARD_INSTALL_DIR:-$HOME/.local/opt/PixelGuard}
icons=(16 24 32 48 64 128 256 512)

refresh_menus() {  # optional helpers; the desktop picks the files up without them too
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$bin/pixelguard" "$bin/pixelguard-gui" "$data/applications/$app.desktop" "$data/metainfo/$app.metainfo.xml"
  rm -f "$data/icons/hicolor/scalable/apps/$app.svg"
  for size in "${icons[@]}"; do rm -f "$data/icons/hicolor/${size}x${size}/apps/$app.png"; done
  rm -rf "$target"
  refresh_menus
  echo "PixelGuard removed. Downloaded models stay in its cache folder (~/.cache/pixelguard unless PIXELGUARD_HOME is set)."
  exit 0
fi

[ -x "$bundle/pixelguard-gui" ] || { echo "error: run install.sh from the unpacked PixelGuard bundle folder" >&2; exit 2; }
if [ "$bundle" != "$(realpath -m "$target")" ]; then
  rm -rf "$target"
  mkdir -p "$(dirname "$target")"
  cp -a "$bundle" "$target"
fi
mkdir -p "$bin" "$data/applications" "$data/metainfo" "$data/icons/hicolor/scalable/apps"
ln -sf "$target/pixelguard" "$bin/pixelguard"
ln -sf "$target/pixelguard-gui" "$bin/pixelguard-gui"
# The menu entry starts the installed copy by its full path (quoted: it may hold spaces), as
# ~/.local/bin may not be on PATH.
sed "s|^Exec=pixelguard-gui|Exec=\"$target/pixelguard-gui\"|" "$target/share/$app.desktop" > "$data/applications/$app.desktop"
cp "$target/share/$app.metainfo.xml" "$data/metainfo/"
resources="$target/_internal/pixelguard/resources"
cp "$resources/pixelguard.svg" "$data/icons/hicolor/scalable/apps/$app.svg"
for size in "${icons[@]}"; do
  mkdir -p "$data/icons/hicolor/${size}x${size}/apps"
  cp "$resources/pixelguard-$size.png" "$data/icons/hicolor/${size}x${size}/apps/$app.png"
done
refresh_menus
echo "PixelGuard installed in $target: find it in the applications menu, or run pixelguard-gui."
case ":$PATH:" in *":$bin:"*) ;; *) echo "note: add $bin to PATH to run pixelguard from a terminal." ;; esac
