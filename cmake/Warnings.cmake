# One place for warning sets. The privileged side (helper/, ipc/) gets the strict set.
set(GROOTFS_WARNINGS -Wall -Wextra)
set(GROOTFS_STRICT_WARNINGS -Wall -Wextra -Wshadow -Wconversion -Wswitch-enum -Wformat=2 -Werror)
