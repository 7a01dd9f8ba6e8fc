# -DFLUXION_FUZZ=ON (clang only; tools/fuzz.sh configures it in build-fuzz/): each
# fuzz/fuzz_<name>.cpp becomes an executable fuzz_<name> (libFuzzer), fuzz/make_seeds.cpp writes
# the seed corpora from fluxion's own writers, and `ctest -L fuzz` runs every target for a few
# seconds on its seeds (FLUXION_FUZZ_SMOKE_SECONDS).
#
# Scope of the instrumentation: fluxion's parsers (core/ and the loaders the targets call, listed
# below) are compiled with libFuzzer's coverage, AddressSanitizer and UBSan; LibTorch, libzip,
# zlib and libstdc++ stay uninstrumented (ASan still sees every heap block, since it replaces
# malloc for the whole process; stb is compiled into core/stb_impl.cpp, so it is instrumented).
# Only what the targets link is built (one static library, fluxion_fuzz_parsers): a clang build
# of everything takes ~25 min on 2 cores.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "FLUXION_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
set(_fluxion_sanitizers "-fsanitize=address,undefined" "-fno-sanitize-recover=undefined" "-fno-omit-frame-pointer")

# The loaders outside core/ that the targets reach: model/VAE/training config JSON, checkpoints,
# FID statistics. Their files also hold classes whose virtual functions tie in most of models/,
# samplers/ and objectives/ (the code the targets never call is still linked, through vtables), so
# those folders are built too; the SD-VAE, metrics/ and train/ are not.
set(FLUXION_FUZZ_EXTRA_SOURCES
  models/zoo.cpp models/sit.cpp models/jit.cpp models/vae_config.cpp models/attention.cpp
  models/backbone.cpp models/embedders.cpp models/layers.cpp models/linear_attention.cpp
  models/pos_embed.cpp models/module_state.cpp
  objectives/checkpoint.cpp objectives/objective_config.cpp objectives/flow_objective.cpp
  objectives/flow_sampling.cpp objectives/dale_objective.cpp objectives/dale_sampling.cpp
  objectives/dale_prior.cpp
  train/train_config.cpp
  metrics/stats_file.cpp)

function(fluxion_add_fuzz_targets)
  file(GLOB _core_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/core/*.cpp ${CMAKE_SOURCE_DIR}/samplers/*.cpp)
  list(TRANSFORM FLUXION_FUZZ_EXTRA_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/ OUTPUT_VARIABLE _extra_srcs)
  add_library(fluxion_fuzz_parsers STATIC ${_core_srcs} ${_extra_srcs})
  target_include_directories(fluxion_fuzz_parsers PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(fluxion_fuzz_parsers PUBLIC torch fluxion_deps)
  target_compile_definitions(fluxion_fuzz_parsers PUBLIC
    FLUXION_VERSION="${PROJECT_VERSION}"
    FLUXION_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    FLUXION_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared")
  target_compile_options(fluxion_fuzz_parsers PUBLIC
    -fsanitize=fuzzer-no-link ${_fluxion_sanitizers} -g -ffunction-sections -fdata-sections)
  target_link_options(fluxion_fuzz_parsers PUBLIC ${_fluxion_sanitizers} -Wl,--gc-sections)
  # clang's own precompiled torch header (the gcc one of fluxion_pch cannot be shared)
  target_precompile_headers(fluxion_fuzz_parsers PRIVATE <torch/torch.h>)
  # stb_image (Debian's 2022 snapshot) calls memcpy(NULL, src, 0) for an empty PNG chunk before
  # the first IDAT data: undefined by the letter of C, harmless in every libc, and not ours to
  # patch. UBSan's nonnull-attribute check is off for that one file; every other check stays on.
  set_source_files_properties(${CMAKE_SOURCE_DIR}/core/stb_impl.cpp PROPERTIES
    COMPILE_OPTIONS -fno-sanitize=nonnull-attribute SKIP_PRECOMPILE_HEADERS ON)

  file(GLOB _fuzz_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.cpp)
  set(_names)
  foreach(_src IN LISTS _fuzz_srcs)
    get_filename_component(_name ${_src} NAME_WE)
    add_executable(${_name} ${_src})
    target_link_libraries(${_name} PRIVATE fluxion_fuzz_parsers)
    target_precompile_headers(${_name} REUSE_FROM fluxion_fuzz_parsers)
    target_link_options(${_name} PRIVATE -fsanitize=fuzzer)
    list(APPEND _names ${_name})
  endforeach()
  add_executable(fuzz_make_seeds ${CMAKE_SOURCE_DIR}/fuzz/make_seeds.cpp ${CMAKE_SOURCE_DIR}/fuzz/seeds.cpp)
  target_link_libraries(fuzz_make_seeds PRIVATE fluxion_fuzz_parsers)
  target_precompile_headers(fuzz_make_seeds REUSE_FROM fluxion_fuzz_parsers)
  add_custom_target(fuzz_targets DEPENDS ${_names} fuzz_make_seeds)

  # The smoke run: each target for a few seconds on the seed corpus (ctest -L fuzz).
  set(FLUXION_FUZZ_SMOKE_SECONDS 5 CACHE STRING "seconds each fuzz target runs under ctest -L fuzz")
  enable_testing()
  add_test(NAME fuzz:seeds COMMAND fuzz_make_seeds ${CMAKE_BINARY_DIR}/seeds)
  set_tests_properties(fuzz:seeds PROPERTIES LABELS fuzz FIXTURES_SETUP fuzz_seeds)
  foreach(_name IN LISTS _names)
    add_test(NAME fuzz:${_name}
      COMMAND ${CMAKE_SOURCE_DIR}/fuzz/smoke.sh $<TARGET_FILE:${_name}> ${CMAKE_BINARY_DIR}/seeds/${_name}
              ${FLUXION_FUZZ_SMOKE_SECONDS})
    set_tests_properties(fuzz:${_name} PROPERTIES LABELS fuzz FIXTURES_REQUIRED fuzz_seeds TIMEOUT 120)
  endforeach()
endfunction()
