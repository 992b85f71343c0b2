# embed_files(<out_cpp> <dir> <glob> <header> <namespace> <function> <type>): compiles every file of
# <dir> matching <glob> into the binary (sorted by name) so that a deployed service needs no data
# directory: migrations, and the shipped scorecards.
function(embed_files out_cpp dir glob header ns func type)
  file(GLOB _files CONFIGURE_DEPENDS "${dir}/${glob}")
  list(SORT _files)
  add_custom_command(OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} -DDIR=${dir} -DGLOB=${glob} -DHEADER=${header} -DNS=${ns}
      -DFUNC=${func} -DTYPE=${type} -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/GenerateEmbedded.cmake
    DEPENDS ${_files} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/GenerateEmbedded.cmake
    COMMENT "Embedding ${glob} from ${dir}")
endfunction()
