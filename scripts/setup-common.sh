# Sourced by the setup scripts (`. scripts/setup-common.sh <name>`): how to become root for
# the package manager, messages prefixed with the script's name, and whether a Debian package
# is installed.
SETUP_NAME="$1"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$SETUP_NAME: run as root or install sudo" >&2; exit 1
  fi
fi
log() { echo "$SETUP_NAME: $*"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
