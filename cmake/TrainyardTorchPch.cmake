# trainyard_use_torch_pch(<target> [SKIP <sources...>]): compile <target> against a precompiled
# <torch/torch.h>.
#
# Why: parsing LibTorch's headers is most of what compiling a Trainyard file costs. A file that
# includes nothing else took 13.7 s with <torch/torch.h> (-O2, 2 cores, 2026-12-03); loading the
# precompiled header takes about 6 s. Every target that includes LibTorch uses one, the tests and
# the tools as much as the framework. SKIP names sources that include no LibTorch header: loading
# the 570 MB header would make them slower (config_rows.cpp took 15-20 s with it, 4 without).
#
# GCC uses a precompiled header only where it was built with the same code model and OpenMP
# setting (-Winvalid-pch says when it is refused): libraries and plugins compile with -fPIC,
# programs with -fPIE, and every user links OpenMP. So each combination has its own owner, an
# object library created on first use in the folder that first asks, so that it also builds
# with that folder's compile options (tests/ leaves the sanitizers out; see tests/CMakeLists.txt).
# TRAINYARD_TORCH_PCH_TAG, a variable a folder may set, keeps such owners apart.
function(trainyard_use_torch_pch target)
  cmake_parse_arguments(ARG "" "" "SKIP" ${ARGN})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set(code_model pie)
  else()
    set(code_model pic)
  endif()
  set(owner trainyard_torch_pch_${code_model})
  if(TRAINYARD_TORCH_PCH_TAG)
    string(APPEND owner _${TRAINYARD_TORCH_PCH_TAG})
  endif()
  if(NOT TARGET ${owner})
    add_library(${owner} OBJECT ${PROJECT_SOURCE_DIR}/framework/pch.cpp)
    target_link_libraries(${owner} PRIVATE ${TORCH_LIBRARIES} OpenMP::OpenMP_CXX)
    target_compile_features(${owner} PRIVATE cxx_std_17)
    target_precompile_headers(${owner} PRIVATE <torch/torch.h>)
    if(code_model STREQUAL "pie")
      # An object library is compiled as a library (-fPIC); its users here are programs.
      set_target_properties(${owner} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
      target_compile_options(${owner} PRIVATE -fPIE)
    endif()
    trainyard_set_warnings(${owner})
  endif()
  target_precompile_headers(${target} REUSE_FROM ${owner})
  target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  if(ARG_SKIP)
    set_source_files_properties(${ARG_SKIP} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()
