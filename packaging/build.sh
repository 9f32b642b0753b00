#!/usr/bin/env bash
# Build the one-folder desktop bundle in packaging/dist/PixelGuard and smoke-test it:
# --version, demo, and the GUI showing its window under a virtual display (Xvfb).
# Uses its own venv (packaging/.build-venv) so the bundle holds only what PixelGuard needs.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=packaging/.build-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q . pyinstaller
"$venv/bin/pyinstaller" --noconfirm --clean --distpath packaging/dist --workpath packaging/build packaging/pixelguard.spec
bundle=packaging/dist/PixelGuard
# Desktop integration travels with the bundle: ./install.sh puts it in the user's menus.
mkdir -p "$bundle/share"
cp resources/io.github.pixelguard.PixelGuard.desktop resources/io.github.pixelguard.PixelGuard.metainfo.xml "$bundle/share/"
cp packaging/install-linux.sh "$bundle/install.sh"
echo "bundle size: $(du -sh "$bundle" | cut -f1)"

smoke=$(mktemp -d)
"$bundle/pixelguard" --version
start=$(date +%s.%N)
(cd "$smoke" && PIXELGUARD_HOME="$smoke/cache" "$OLDPWD/$bundle/pixelguard" demo -q)
echo "demo (cold start included): $(echo "$(date +%s.%N) - $start" | bc) s"
for tool in xvfb-run xdotool; do
  command -v "$tool" >/dev/null || { echo "$tool missing: apt-get install xvfb xdotool"; exit 1; }
done
# One virtual display for both the app and the check, so DISPLAY is the same.
PIXELGUARD_HOME="$smoke/cache" BUNDLE="$bundle" timeout 120 xvfb-run -a bash -c '
  start=$(date +%s.%N)
  "$BUNDLE/pixelguard-gui" & app=$!
  for _ in $(seq 1 90); do
    if xdotool search --onlyvisible --name "^PixelGuard$" >/dev/null 2>&1; then
      echo "GUI window shown after $(echo "$(date +%s.%N) - $start" | bc) s"; kill $app; exit 0
    fi
    sleep 0.5
  done
  echo "GUI window did not appear"; kill $app; exit 1'
