#!/usr/bin/env bash
# Full-screen Chromium on the Splitwise page: a Raspberry Pi 5 (or any Linux box with a display)
# as the edge. Waits until the server answers /api/health, then starts Chromium in kiosk mode.
#
#   scripts/kiosk.sh [URL]          default http://127.0.0.1:8080/  (env SPLITWISE_URL also works)
#
# The page and the cloud are one origin: point it at the machine running `npm start` (for a remote
# server start that with HOST=0.0.0.0). Note: browsers keep the model in Cache Storage and allow
# WASM threads only on secure origins: http://localhost / 127.0.0.1, or https. For a server on
# another machine, forward a local port (ssh -L 8080:127.0.0.1:8080 server) or serve over https.
# Env: CHROMIUM (binary), WAIT_SECONDS (default 300), KIOSK_PROFILE (profile dir, keeps the model).
set -euo pipefail

URL="${1:-${SPLITWISE_URL:-http://127.0.0.1:8080/}}"
WAIT_SECONDS="${WAIT_SECONDS:-300}"
PROFILE="${KIOSK_PROFILE:-$HOME/.cache/splitwise-kiosk}"

find_chromium() {
  if [[ -n "${CHROMIUM:-}" ]]; then echo "$CHROMIUM"; return; fi
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  echo "kiosk: no chromium found; install it (sudo apt install chromium) or set CHROMIUM=" >&2
  exit 1
}
BROWSER="$(find_chromium)"

health="${URL%/}/api/health"
echo "kiosk: waiting for $health (up to ${WAIT_SECONDS}s)…"
deadline=$((SECONDS + WAIT_SECONDS))
until curl -fsS -m 2 "$health" >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "kiosk: the server did not answer at $health; is \`npm start\` running?" >&2
    exit 1
  fi
  sleep 1
done

mkdir -p "$PROFILE"
echo "kiosk: opening $URL"
# --app + --kiosk: no tabs, no address bar; the rest keeps a kiosk quiet (no crash bubbles, no
# first-run or translate prompts, no pinch zoom, no background traffic).
exec "$BROWSER" \
  --kiosk --app="$URL" \
  --user-data-dir="$PROFILE" \
  --noerrdialogs --disable-infobars --disable-session-crashed-bubble \
  --no-first-run --disable-translate --disable-features=Translate \
  --disable-pinch --overscroll-history-navigation=0 \
  --disable-background-networking --disable-component-update --disable-sync \
  --check-for-update-interval=31536000 \
  "${@:2}"
