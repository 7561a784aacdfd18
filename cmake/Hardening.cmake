# Hardening for every binary we ship.
add_compile_options(-fstack-protector-strong -fPIE)
if(NOT GROOTFS_SANITIZE)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
endif()
add_link_options(-pie -Wl,-z,relro,-z,now)
