# Bundles a schema that references a sibling file ("$ref": "NAME.json")
# into one document: the sibling goes to "$defs"/NAME, its own "#/$defs/X"
# references pointed at "#/$defs/NAME/$defs/X", and the reference at
# "#/$defs/NAME". The store's validator resolves references within one
# document only; the docs keep the files apart.
# Invoked as: cmake -DIN=schema.json -DREF=sibling.json -DOUT=bundled.json -P schema_bundle.cmake
file(READ "${IN}" doc)
file(READ "${REF}" sib)
get_filename_component(refname "${REF}" NAME)
get_filename_component(name "${REF}" NAME_WE)
string(JSON sib REMOVE "${sib}" "$schema")
string(REPLACE "\"#/$defs/" "\"#/$defs/${name}/$defs/" sib "${sib}")
string(JSON defs ERROR_VARIABLE none GET "${doc}" "$defs")
if(none)
  string(JSON doc SET "${doc}" "$defs" "{}")
endif()
string(JSON doc SET "${doc}" "$defs" "${name}" "${sib}")
string(FIND "${doc}" "\"${refname}\"" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${IN} does not reference ${refname}")
endif()
string(REPLACE "\"${refname}\"" "\"#/$defs/${name}\"" doc "${doc}")
file(WRITE "${OUT}" "${doc}\n")
