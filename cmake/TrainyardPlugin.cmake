# trainyard_add_plugin(<name> KIND <model|dataset|optimizer> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds one plugin as a loadable MODULE library named trainyard_<kind>_<name>.so, the file name
# the runner's registry looks for, linked against the plugin SDK (Trainyard::sdk) alone. Symbols
# are hidden: the only thing a plugin exports is the entry point that TRAINYARD_PLUGIN() declares. The same function builds the plugins in
# Trainyard's tree and, after find_package(Trainyard), a plugin in a project of its own.
#
# The library is written to TRAINYARD_PLUGIN_OUTPUT_DIR when that is set (the runner's own
# plugin folder, in Trainyard's tree), else to the current binary folder: point
# TRAINYARD_PLUGIN_PATH there, or `cmake --install` it into <prefix>/lib/trainyard/plugins.
function(trainyard_add_plugin name)
  cmake_parse_arguments(ARG "" "KIND" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_KIND MATCHES "^(model|dataset|optimizer)$")
    message(FATAL_ERROR "trainyard_add_plugin(${name}): KIND must be model, dataset or optimizer, got '${ARG_KIND}'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "trainyard_add_plugin(${name}): SOURCES is empty")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "trainyard_add_plugin(${name}): the name must be lower case letters, digits and _ (it is also the name YAML files use)")
  endif()
  set(target trainyard_${ARG_KIND}_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  # The SDK only: the plugin contract and what plugins share with the host. Every symbol must
  # resolve at link time (--no-undefined), so a plugin reaching for a host-only function fails
  # to build rather than to load. Sanitizer runtimes leave their symbols to the executable.
  target_link_libraries(${target} PRIVATE Trainyard::sdk ${ARG_LIBRARIES})
  if(NOT TRAINYARD_SANITIZERS)
    target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  endif()
  if(DEFINED TRAINYARD_PLUGIN_OUTPUT_DIR)
    set(output_dir ${TRAINYARD_PLUGIN_OUTPUT_DIR})
  else()
    set(output_dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${output_dir}
    BUILD_RPATH "$ORIGIN/../.."
    INSTALL_RPATH "$ORIGIN/../..")
  if(COMMAND trainyard_set_warnings)
    trainyard_set_warnings(${target})
  endif()
  if(COMMAND trainyard_use_torch_pch)   # Trainyard's own tree (cmake/TrainyardTorchPch.cmake)
    trainyard_use_torch_pch(${target})
  endif()
  include(GNUInstallDirs)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/trainyard/plugins)
  set_property(GLOBAL APPEND PROPERTY TRAINYARD_PLUGIN_TARGETS ${target})
  set(TRAINYARD_LAST_PLUGIN_TARGET ${target} PARENT_SCOPE)
endfunction()
