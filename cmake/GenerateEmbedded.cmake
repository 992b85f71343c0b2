# Writes OUT: a C++ function that returns every file in DIR matching GLOB as {name, text}, sorted by
# name, so a deployed binary needs no data directory. Called by embed_files() at build time.
#   -DOUT=… -DDIR=… -DGLOB=*.sql -DHEADER=cshealthd/store/migrations.hpp -DNS=cshealthd::store
#   -DFUNC=embedded_migrations -DTYPE=MigrationSource
file(GLOB _files "${DIR}/${GLOB}")
list(SORT _files)
set(_body "// Generated from ${GLOB} files; do not edit.\n#include \"${HEADER}\"\n\nnamespace ${NS} {\n\nconst std::vector<${TYPE}>& ${FUNC}() {\n  static const std::vector<${TYPE}> all = {\n")
foreach(_f IN LISTS _files)
  get_filename_component(_name ${_f} NAME)
  file(READ ${_f} _text)
  # A raw string literal with a delimiter that neither SQL nor YAML ever contains.
  string(APPEND _body "      {\"${_name}\", R\"__EMBED__(${_text})__EMBED__\"},\n")
endforeach()
string(APPEND _body "  };\n  return all;\n}\n\n}  // namespace ${NS}\n")
file(WRITE ${OUT}.tmp "${_body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
