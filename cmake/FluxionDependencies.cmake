# Finds fluxion's dependencies and gathers the non-torch ones behind one interface target,
# fluxion_deps. Works with Debian 12's packages and with a prefix of unpacked .debs
# (tools/gpu_deps.sh) passed through CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)

find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

find_package(PkgConfig REQUIRED)
pkg_check_modules(FFTW3 REQUIRED IMPORTED_TARGET fftw3 fftw3f)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)  # .npz archives (core/zip_archive)

add_library(fluxion_deps INTERFACE)
target_include_directories(fluxion_deps INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(fluxion_deps INTERFACE
  ZLIB::ZLIB PkgConfig::LIBZIP nlohmann_json::nlohmann_json PkgConfig::FFTW3 Threads::Threads)

# Torch's CMake config adds flags (e.g. -D_GLIBCXX_USE_CXX11_ABI) through TORCH_CXX_FLAGS.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
message(STATUS "fluxion: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
