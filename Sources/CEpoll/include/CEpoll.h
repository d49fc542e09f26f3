#ifndef CEPOLL_H
#define CEPOLL_H

// Glibc's Swift overlay does not export epoll, eventfd or accept4, and `struct epoll_event` is packed on
// x86_64, which Swift cannot import faithfully. These wrappers take and return plain, unpacked values.

#include <malloc.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/// One readiness event, unpacked: `events` is the EPOLL* mask, `data` the registration's 64-bit token.
typedef struct {
    uint32_t events;
    uint64_t data;
} cepoll_event;

static const uint32_t CEPOLL_IN = EPOLLIN;
static const uint32_t CEPOLL_OUT = EPOLLOUT;
static const uint32_t CEPOLL_ERR = EPOLLERR;
static const uint32_t CEPOLL_HUP = EPOLLHUP;
static const uint32_t CEPOLL_RDHUP = EPOLLRDHUP;
static const uint32_t CEPOLL_ET = EPOLLET;
static const uint32_t CEPOLL_EXCLUSIVE = EPOLLEXCLUSIVE;

static inline int cepoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

/// Adds `fd` with an event mask and token.
static inline int cepoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

static inline int cepoll_delete(int epfd, int fd) {
    struct epoll_event event = {0};
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event);
}

/// Waits for at most `capacity` events (capped at 256) and copies them, unpacked, into `out`.
static inline int cepoll_wait(int epfd, cepoll_event *out, int capacity, int timeout_ms) {
    struct epoll_event events[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        out[i].events = events[i].events;
        out[i].data = events[i].data.u64;
    }
    return count;
}

static inline int cepoll_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`. Defined in CEpoll.c, which can ask for `_GNU_SOURCE`
/// before any system header (a header imported into Swift cannot).
int cepoll_accept(int fd, struct sockaddr *address, socklen_t *length);

static inline int cepoll_socket(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/// A nonblocking, close-on-exec pipe for splice(2): fds[0] reads, fds[1] writes. Asks for `size` bytes of
/// capacity; returns the capacity granted, or -1 with errno. Defined in CEpoll.c.
int cepoll_pipe(int fds[2], int size);

/// splice(2) between a socket and a pipe, nonblocking, moving pages where the kernel can.
ssize_t cepoll_splice(int from, int to, size_t length);

/// The event loop that runs on this thread (an unretained pointer to it), or NULL on any other thread.
/// Thread-local in C because Swift has no cheap thread-local storage of its own.
void *cepoll_current_loop(void);
void cepoll_set_current_loop(void *loop);

/// Names the calling thread (at most 15 bytes), as `top -H` and gdb show it. Defined in CEpoll.c, which
/// asks for `_GNU_SOURCE`.
int cepoll_set_thread_name(const char *name);

/// The size of the calling thread's scratch buffer.
#define CEPOLL_SCRATCH_SIZE 8192
/// The calling thread's scratch buffer (CEPOLL_SCRATCH_SIZE bytes, thread-local, never freed): for
/// synchronous work that needs a buffer only until it returns, without allocating one each time.
unsigned char *cepoll_thread_scratch(void);

/// Reads an eventfd to reset it (the value is irrelevant: it only wakes the loop).
static inline void cepoll_eventfd_drain(int fd) {
    uint64_t value;
    (void)!read(fd, &value, sizeof value);
}

static inline void cepoll_eventfd_signal(int fd) {
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
}

/// Gives the heap's free memory back to the system (glibc's `malloc_trim(0)`, every arena); 1 when some was
/// released. The Glibc overlay does not export it.
static inline int cepoll_malloc_trim(void) {
    return malloc_trim(0);
}

#endif
