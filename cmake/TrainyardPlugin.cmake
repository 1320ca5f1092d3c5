# trainyard_add_plugin(<name> KIND <model|dataset|optimizer> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds one plugin as a loadable MODULE library named trainyard_<kind>_<name>.so in the plugin
# folder the runner searches. Symbols are hidden by default: the only thing a plugin exports is
# the entry point that TRAINYARD_PLUGIN() declares.
function(trainyard_add_plugin name)
  cmake_parse_arguments(ARG "" "KIND" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_KIND MATCHES "^(model|dataset|optimizer)$")
    message(FATAL_ERROR "trainyard_add_plugin(${name}): KIND must be model, dataset or optimizer, got '${ARG_KIND}'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "trainyard_add_plugin(${name}): SOURCES is empty")
  endif()
  set(target trainyard_${ARG_KIND}_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Trainyard::framework ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${TRAINYARD_PLUGIN_OUTPUT_DIR}
    BUILD_RPATH "$ORIGIN/../..")
  if(COMMAND trainyard_set_warnings)
    trainyard_set_warnings(${target})
  endif()
  set(TRAINYARD_LAST_PLUGIN_TARGET ${target} PARENT_SCOPE)
endfunction()
