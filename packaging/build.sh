#!/usr/bin/env bash
# Build the one-folder desktop bundle in packaging/dist/PixelGuard and smoke-test it:
# --version, demo, and the GUI showing its window under a virtual display (Xvfb).
#
#   packaging/build.sh               build in its own venv (packaging/.build-venv), then test
#   packaging/build.sh --test-only   test the bundle already built
#
# PIXELGUARD_TORCH_INDEX=<pip index URL> installs torch and torchvision from that index first:
# PyTorch's CPU index gives a CPU-only bundle without the CUDA libraries (see README.md here).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=packaging/dist/PixelGuard
app_id=io.github.pixelguard.PixelGuard

if [ "${1:-}" != "--test-only" ]; then
  venv=packaging/.build-venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
  fi
  if [ -n "${PIXELGUARD_TORCH_INDEX:-}" ]; then
    "$venv/bin/pip" install -q torch torchvision --index-url "$PIXELGUARD_TORCH_INDEX"
  fi
  "$venv/bin/pip" install -q . pyinstaller
  start=$(date +%s)
  "$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath packaging/dist --workpath packaging/build packaging/pixelguard.spec
  echo "built in $(( $(date +%s) - start )) s"
  # Desktop integration travels with the bundle: ./install.sh puts it in the user's menus.
  mkdir -p "$bundle/share"
  cp "resources/$app_id.desktop" "resources/$app_id.metainfo.xml" "$bundle/share/"
  cp packaging/install-linux.sh "$bundle/install.sh"
fi

[ -x "$bundle/pixelguard" ] || { echo "error: no bundle in $bundle: run packaging/build.sh first" >&2; exit 2; }
for tool in xvfb-run xdotool; do
  command -v "$tool" >/dev/null || { echo "error: $tool missing: apt-get install xvfb xdotool" >&2; exit 2; }
done
echo "bundle size: $(du -sh "$bundle" | cut -f1)"
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
seconds_since() { python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"; }

"$bundle/pixelguard" --version
# An empty cache and the working folder of a first run: the default model must work offline.
start=$(date +%s.%N)
(cd "$smoke" && PIXELGUARD_HOME="$smoke/cache" "$OLDPWD/$bundle/pixelguard" demo -q)
# The demo keeps its result either way (the cat is a hard case): protected, or marked NOT-PROTECTED.
demo_out="$smoke/pixelguard-demo/protected"
[ -f "$demo_out/chelsea.png" ] || [ -f "$demo_out/chelsea.NOT-PROTECTED.png" ] \
    || { echo "error: the demo saved no copy of its photo" >&2; exit 1; }
echo "demo (start-up included): $(seconds_since "$start") s"

# One virtual display for both the app and the check, so DISPLAY is the same. (xvfb-run is a
# POSIX sh script, which drops exported bash functions: seconds_since travels as text.)
PIXELGUARD_HOME="$smoke/cache" BUNDLE="$bundle" FUNCTIONS="$(declare -f seconds_since)" timeout 120 xvfb-run -a bash -c '
  eval "$FUNCTIONS"
  start=$(date +%s.%N)
  "$BUNDLE/pixelguard-gui" & app=$!
  for _ in $(seq 1 240); do
    if xdotool search --onlyvisible --name "^PixelGuard$" >/dev/null 2>&1; then
      echo "GUI window shown after $(seconds_since "$start") s"
      kill $app; exit 0
    fi
    sleep 0.25
  done
  echo "error: the GUI window did not appear" >&2; kill $app; exit 1'
echo "smoke test passed"
