# Sourced by the GPU session scripts from the repository root: where results, the CUDA build and
# scratch runs live, and the library path of the unpacked .debs (tools/gpu_deps.sh).
out=${OUT:-gpu-results}
mkdir -p "$out"
build=${BUILD:-/tmp/fluxion-cuda}
fx=$build/fluxion
work=${WORK:-/tmp/fluxion-gpu}
mkdir -p "$work"
eval "$(tools/gpu_deps.sh env)"
export FLUXION_CACHE=${FLUXION_CACHE:-$work/cache}
