# The installed programs carry no DWARF. Each file's debug sections (most of a RelWithDebInfo
# binary: 43 of grootfs's 46 MB) move after the link into FILE.debug beside it in the build
# tree, which gdb and perf find through the .gnu_debuglink the file keeps; the symbol table
# stays. A program started from a cold page cache otherwise has the kernel's read-ahead around
# each of its code pages read debug sections it never maps (about 6 ms for grootfs here).
# Sanitizer and fuzz builds keep their DWARF in place, for their reports.
function(grootfs_split_debug target)
  if(GROOTFS_SANITIZE OR GROOTFS_FUZZ OR NOT CMAKE_OBJCOPY)
    return()
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_OBJCOPY} --only-keep-debug $<TARGET_FILE:${target}>
            $<TARGET_FILE:${target}>.debug
    COMMAND ${CMAKE_OBJCOPY} --strip-debug
            --add-gnu-debuglink=$<TARGET_FILE:${target}>.debug $<TARGET_FILE:${target}>
    VERBATIM)
endfunction()
