# shellcheck shell=bash
# Sourced by scripts/docs.sh and scripts/audit-screenshot.sh: a PNG of a local HTML page as a
# browser shows it, for the documentation's images.
#
#   screenshot_html PAGE.html OUTPUT.png WIDTHxHEIGHT
#
# Headless Chromium (Debian's `chromium`), shrunk with pngquant; both are installed here when
# missing - only the doc images need them, so they are not in scripts/install-system-deps.sh.
screenshot_html() {
  local page="$1" out="$2" size="$3" need=() as_root=() shot
  command -v chromium >/dev/null || need+=(chromium)
  command -v pngquant >/dev/null || need+=(pngquant)
  if [ "${#need[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  fi
  shot="$(mktemp /tmp/runnercreds-shot.XXXXXX.png)"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="${size/x/,}" --screenshot="$shot" "file://$page" 2>/dev/null
  mkdir -p "$(dirname "$out")"
  pngquant --force --quality 60-90 --output "$out" "$shot"
  rm -f "$shot"
  echo "$out: $(stat -c %s "$out") bytes"
}
