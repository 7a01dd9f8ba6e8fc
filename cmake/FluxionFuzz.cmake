# -DFLUXION_FUZZ=ON (clang only; tools/fuzz.sh configures it in build-fuzz/): every target is
# compiled with libFuzzer's coverage instrumentation plus AddressSanitizer and UBSan, and each
# fuzz/fuzz_<name>.cpp becomes an executable fuzz_<name>; fuzz/make_seeds.cpp writes the seed
# corpora from fluxion's own writers.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "FLUXION_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
set(_fluxion_sanitizers "-fsanitize=address,undefined" "-fno-sanitize-recover=undefined" "-fno-omit-frame-pointer")
add_compile_options(-fsanitize=fuzzer-no-link ${_fluxion_sanitizers} -g)
add_link_options(${_fluxion_sanitizers})

function(fluxion_add_fuzz_targets)
  file(GLOB _fuzz_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.cpp)
  set(_names)
  foreach(_src IN LISTS _fuzz_srcs)
    get_filename_component(_name ${_src} NAME_WE)
    add_executable(${_name} ${_src})
    target_link_libraries(${_name} PRIVATE fluxion_train)
    target_link_options(${_name} PRIVATE -fsanitize=fuzzer)
    list(APPEND _names ${_name})
  endforeach()
  add_executable(fuzz_make_seeds ${CMAKE_SOURCE_DIR}/fuzz/make_seeds.cpp)
  target_link_libraries(fuzz_make_seeds PRIVATE fluxion_train)
  add_custom_target(fuzz_targets DEPENDS ${_names} fuzz_make_seeds)
endfunction()
