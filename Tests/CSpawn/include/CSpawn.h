#ifndef CSPAWN_H
#define CSPAWN_H

#include <spawn.h>

/// Adds to `actions` the closing of every descriptor from `lowest` up, in the child only: a test's child
/// process inherits nothing of the test process but what the actions open for it. Glibc declares
/// posix_spawn_file_actions_addclosefrom_np (2.34+) only under _GNU_SOURCE, which a header imported into
/// Swift cannot arrange; the definition in CSpawn.c can.
int cspawn_actions_close_from(posix_spawn_file_actions_t *actions, int lowest);

#endif
