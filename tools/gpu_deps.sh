#!/usr/bin/env bash
# fluxion on a GPU host without package registries (e.g. Ubuntu with a CUDA PyTorch installed).
#
#   On a Debian 12 machine with registries:   tools/gpu_deps.sh download
#       downloads the .deb files of the non-torch dependencies into .deps/debs/
#   Copy the repository (with .deps/) to the GPU host, then there:
#       tools/gpu_deps.sh build [BUILD_DIR]
#       unpacks the .debs into .deps/prefix with dpkg -x and configures and builds fluxion against
#       the LibTorch of the installed PyTorch (CUDA); FLUXION_CMAKE_ARGS adds configure options
#       (e.g. -DFLUXION_CUDA_KERNELS=OFF to leave out fluxion's own kernels, on where nvcc is found). Then:
#       tools/gpu_deps.sh env   prints the exports that make the built binaries find the libraries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=$root/.deps
debs=(libfftw3-dev libfftw3-double3 libfftw3-single3 libfftw3-long3 libfftw3-quad3 libfftw3-bin
      libcli11-dev libstb-dev libstb0 catch2 nlohmann-json3-dev zlib1g-dev libzip-dev libzip4
      # libcurl (OpenSSL flavour) and OpenSSL's libcrypto, with the libraries Debian's libcurl4
      # links that a CUDA image may lack (libssh2, librtmp, libldap-2.5 of Debian 12, ...)
      libcurl4-openssl-dev libcurl4 libssl-dev libssl3 libnghttp2-14 libssh2-1 librtmp1 libpsl5
      libbrotli1 libldap-2.5-0 libsasl2-2 libsasl2-modules-db libunistring2)

case "${1:-}" in
  download)
    mkdir -p "$deps/debs"
    cd "$deps/debs"
    apt-get download "${debs[@]}"
    ls -1 "$deps/debs"
    ;;
  build)
    build_dir=${2:-$root/build-cuda}
    prefix=$deps/prefix
    mkdir -p "$prefix"
    for f in "$deps"/debs/*.deb; do dpkg -x "$f" "$prefix"; done
    torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
    export PKG_CONFIG_PATH=$prefix/usr/lib/x86_64-linux-gnu/pkgconfig
    # the build runs the test binary to list its cases: libcurl's own dependencies (libssh2, ...)
    # are found through the library path only, not through the executables' RUNPATH
    export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PKG_CONFIG_SYSROOT_DIR=$prefix
    # nvcc for fluxion's CUDA kernels, where the CUDA image keeps it out of PATH
    if ! command -v nvcc >/dev/null && [ -z "${CUDACXX:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
      export CUDACXX=/usr/local/cuda/bin/nvcc
    fi
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" \
      -DCMAKE_BUILD_RPATH="$prefix/usr/lib/x86_64-linux-gnu" \
      -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" ${FLUXION_CMAKE_ARGS:-}
    # FLUXION_TARGETS (e.g. fluxion): build only these, not the tests
    cmake --build "$build_dir" -j "${FLUXION_JOBS:-$(nproc)}" ${FLUXION_TARGETS:+--target $FLUXION_TARGETS}
    ;;
  env)
    echo "export LD_LIBRARY_PATH=$deps/prefix/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
    ;;
  *)
    sed -n '2,13p' "$0"; exit 2 ;;
esac
