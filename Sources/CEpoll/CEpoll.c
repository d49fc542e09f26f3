// accept4, pipe2 and splice are GNU extensions: declared only when _GNU_SOURCE comes before the first system
// header, which a header imported into Swift cannot arrange.
#define _GNU_SOURCE
#include <pthread.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "CEpoll.h"

int cepoll_accept(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static __thread void *current_loop = NULL;

void *cepoll_current_loop(void) {
    return current_loop;
}

void cepoll_set_current_loop(void *loop) {
    current_loop = loop;
}

int cepoll_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

// Thread-local, so each thread has its own; its pages become resident only on threads that use it.
static __thread unsigned char thread_scratch[CEPOLL_SCRATCH_SIZE];

unsigned char *cepoll_thread_scratch(void) {
    return thread_scratch;
}

int cepoll_pipe(int fds[2], int size) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    // A larger pipe lets one splice move more: fewer system calls per byte. Best effort: past
    // /proc/sys/fs/pipe-max-size (or a user's pipe quota) a quarter of the size is asked for, down to the
    // default 64 KiB, which then stays.
    for (int asked = size; asked > 65536; asked /= 4) {
        int granted = fcntl(fds[1], F_SETPIPE_SZ, asked);
        if (granted >= 0) return granted;
    }
    return fcntl(fds[1], F_GETPIPE_SZ);
}

ssize_t cepoll_splice(int from, int to, size_t length) {
    return splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}
