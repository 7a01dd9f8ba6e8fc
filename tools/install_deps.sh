#!/usr/bin/env bash
# Installs fluxion's build and run dependencies from Debian 12's packages, only those missing.
# Idempotent; runs apt-get as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-pthread   # Debian's LibTorch is ~7x slower on the reference BLAS
  libstb-dev libfftw3-dev libcli11-dev catch2 nlohmann-json3-dev zlib1g-dev libzip-dev libgloo-dev
  libcurl4-openssl-dev libssl-dev     # weights fetched on first use, checked by SHA-256
  dataset-fashion-mnist               # the default run's data
  python3 python3-numpy               # interop tests (np.save / np.savez round trips)
  python3-torch                       # tools/convert_checkpoint.py and its test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install_deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
