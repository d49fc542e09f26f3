// accept4 is a GNU extension: it is declared only when _GNU_SOURCE comes before the first system header.
#define _GNU_SOURCE
#include <sys/socket.h>
#include "CEpoll.h"

int cepoll_accept(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
