# Finds fluxion's dependencies and gathers the non-torch ones behind one interface target,
# fluxion_deps. Works with Debian 12's packages and with a prefix of unpacked .debs
# (tools/gpu_deps.sh) passed through CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
# The shared zlib first: a prefix of unpacked .debs (tools/gpu_deps.sh) holds only libz.a (its
# libz.so link points outside the prefix), and a static zlib in the executables beside the
# system's libz.so.1, which other libraries load, puts two zlibs in one process.
find_library(ZLIB_LIBRARY NAMES libz.so.1 z)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(CURL REQUIRED)     # weights fetched on first use (core/download)
find_package(OpenSSL REQUIRED)  # their SHA-256 (core/sha256, through EVP)

find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

find_package(PkgConfig REQUIRED)
pkg_check_modules(FFTW3 REQUIRED IMPORTED_TARGET fftw3 fftw3f)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)  # .npz archives (core/zip_archive)

add_library(fluxion_deps INTERFACE)
target_include_directories(fluxion_deps INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(fluxion_deps INTERFACE
  ZLIB::ZLIB PkgConfig::LIBZIP nlohmann_json::nlohmann_json PkgConfig::FFTW3 Threads::Threads
  CURL::libcurl OpenSSL::Crypto)

# Torch's CMake config adds flags (e.g. -D_GLIBCXX_USE_CXX11_ABI) through TORCH_CXX_FLAGS.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
message(STATUS "fluxion: LibTorch ${Torch_VERSION} from ${Torch_DIR}")

# c10d backends for data-parallel training (train/distributed.cpp). LibTorch's c10d lives in
# libtorch_cpu (Debian) / libtorch_cpu + libtorch_cuda (PyTorch wheels); the Gloo backend's header
# needs gloo's own headers (Debian: libgloo-dev), NCCL's needs nccl.h. Each is used when a tiny
# program with it compiles and links; otherwise multi-process training says what is missing.
include(CheckCXXSourceCompiles)
find_library(FLUXION_GLOO_LIBRARY NAMES gloo)
# The checks link library files, not the imported `torch` target: try_compile would import its
# whole link interface (protobuf::libprotobuf in PyTorch wheels), which only find_package(Torch)
# in the main project defines.
set(_fluxion_c10d_libs)
foreach(_name torch torch_cpu c10 torch_cuda c10_cuda)
  find_library(FLUXION_LIB_${_name} ${_name} HINTS "${TORCH_INSTALL_PREFIX}/lib")
  if(FLUXION_LIB_${_name})
    list(APPEND _fluxion_c10d_libs ${FLUXION_LIB_${_name}})
  endif()
endforeach()
if(FLUXION_GLOO_LIBRARY)
  list(APPEND _fluxion_c10d_libs ${FLUXION_GLOO_LIBRARY})
endif()
set(CMAKE_REQUIRED_LIBRARIES ${_fluxion_c10d_libs})
set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
# USE_C10D_GLOO and friends come with the target's compile definitions
set(CMAKE_REQUIRED_DEFINITIONS)
foreach(_target torch torch_cpu)
  if(TARGET ${_target})
    get_target_property(_defs ${_target} INTERFACE_COMPILE_DEFINITIONS)
    if(_defs)
      list(TRANSFORM _defs PREPEND -D)
      list(APPEND CMAKE_REQUIRED_DEFINITIONS ${_defs})
    endif()
  endif()
endforeach()
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND CMAKE_REQUIRED_INCLUDES ${CUDAToolkit_INCLUDE_DIRS})
endif()
set(CMAKE_REQUIRED_FLAGS "-std=c++17 ${TORCH_CXX_FLAGS}")
set(CMAKE_REQUIRED_QUIET ON)
check_cxx_source_compiles("
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
int main() { auto o = c10d::ProcessGroupGloo::Options::create(); return o ? 0 : 1; }"
  FLUXION_HAVE_GLOO)
check_cxx_source_compiles("
#define USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
int main() { auto o = c10d::ProcessGroupNCCL::Options::create(); return o ? 0 : 1; }"
  FLUXION_HAVE_NCCL)
unset(CMAKE_REQUIRED_LIBRARIES)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_INCLUDES)
unset(CMAKE_REQUIRED_DEFINITIONS)
unset(CMAKE_REQUIRED_QUIET)
add_library(fluxion_c10d INTERFACE)
if(FLUXION_HAVE_GLOO AND FLUXION_GLOO_LIBRARY)
  target_link_libraries(fluxion_c10d INTERFACE ${FLUXION_GLOO_LIBRARY})
endif()
message(STATUS "fluxion: c10d backends: Gloo ${FLUXION_HAVE_GLOO}, NCCL ${FLUXION_HAVE_NCCL}")
