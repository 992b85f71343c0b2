# embed_sql_files(OUT_CPP <file> GLOB <dir>): compiles every *.sql in <dir> into the binary so that a
# deployed service needs no migrations directory; the list is sorted by file name (the version prefix).
function(embed_sql_files out_cpp dir)
  file(GLOB _files CONFIGURE_DEPENDS "${dir}/*.sql")
  list(SORT _files)
  add_custom_command(OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} -DDIR=${dir} -P ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
    DEPENDS ${_files} ${PROJECT_SOURCE_DIR}/cmake/GenerateMigrations.cmake
    COMMENT "Embedding migrations from ${dir}")
endfunction()
