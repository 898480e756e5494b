#!/usr/bin/env bash
# Installs the system packages overinterp needs on Debian 12 (run as root, or with sudo).
# The Swift 6 toolchain itself is not a Debian package: get it from swift.org (or swiftly) first.
# --tests also installs what only the test suite needs: Chromium (the browser tests), and Slurm,
# munge and bc (scripts/slurm-test.sh, the scale-out test on a real single-node Slurm).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
packages=(libtorch-dev libopenblas0-pthread libjpeg-dev libpng-dev zlib1g-dev libsqlite3-dev curl ca-certificates tar)
if [ "${1:-}" = "--tests" ]; then packages+=(chromium slurm-wlm munge bc); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "error: no 'swift' on PATH. Install the Swift 6 toolchain for Debian 12 from https://www.swift.org/install/linux/ and re-run." >&2
  exit 1
fi
echo "dependencies ready: $(swift --version 2>&1 | head -1); libtorch $(dpkg-query -W -f='${Version}' libtorch-dev)"
