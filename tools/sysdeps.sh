#!/usr/bin/env bash
# The system packages that the browser, PDF and offline checks need (`make sysdeps`; `make test`, `make pdf`
# and `make offline` run it first):
#
#   Chromium               the browser the tests and the PDF printer drive   (Debian: chromium)
#   Noto Sans CJK          Chinese text on the site                          (fonts-noto-cjk)
#   WenQuanYi Micro Hei    Chinese text in the PDF                           (fonts-wqy-microhei)
#   pdftotext, pdffonts    reading the PDFs back                             (poppler-utils)
#
# If something is missing it is installed with apt-get (as root directly, otherwise through sudo). Without
# apt-get (macOS, other distributions) the script stops with one message naming what to install, before any
# test runs. CHROMIUM=/path/to/chrome uses another Chromium-based browser instead of Debian's.
set -uo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PACKAGES=(chromium fonts-noto-cjk fonts-wqy-microhei poppler-utils)

missing=()
[ -x "$CHROMIUM" ] || missing+=("chromium")
fonts="$(fc-list 2>/dev/null || true)"
grep -qi "Noto Sans CJK" <<<"$fonts" || missing+=("fonts-noto-cjk")
grep -qi "WenQuanYi Micro Hei" <<<"$fonts" || missing+=("fonts-wqy-microhei")
{ command -v pdftotext && command -v pdffonts; } >/dev/null 2>&1 || missing+=("poppler-utils")

[ ${#missing[@]} -eq 0 ] && exit 0

explain() {
  cat >&2 <<EOF
make: the browser, PDF and offline checks need system packages that are missing: ${missing[*]}
  $1
  On Debian/Ubuntu:  sudo apt-get install ${PACKAGES[*]}
  Elsewhere install: Chromium (or Chrome), the Noto Sans CJK and WenQuanYi Micro Hei fonts, and poppler
                     (pdftotext, pdffonts); then point CHROMIUM at the browser, e.g.
                     make test CHROMIUM="/Applications/Chromium.app/Contents/MacOS/Chromium"
  No test has been run.
EOF
  exit 2
}

command -v apt-get >/dev/null 2>&1 || explain "apt-get is not available here, so they cannot be installed automatically."
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  explain "Installing them needs root or sudo, and neither is available."
fi

# Debian's package is named chromium; if CHROMIUM points elsewhere and is missing, install Debian's anyway
# and say which path to use.
echo "make: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null || explain "apt-get update failed."
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || explain "apt-get install ${missing[*]} failed."
if [ ! -x "$CHROMIUM" ]; then
  echo "make: Debian's chromium is at /usr/bin/chromium; CHROMIUM=$CHROMIUM does not exist." >&2
  exit 2
fi
exit 0
