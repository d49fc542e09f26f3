// socksd benchmark load generator: targets (source, echo, UDP echo) and clients that measure throughput,
// connection rate and session set-up latency, UDP and UoT round trips, idle sessions and start-up time,
// directly or through a SOCKS5 proxy, and the CPU time of a proxy's process tree. Blocking sockets and one
// thread per stream, so that the figures belong to the proxy under test. Every loop is bounded by a
// duration or a count. Loopback only.
//
// The load commands print one line: the rate, then the work it stands for (bytes, sessions or round trips
// carried in the whole test, warm-up included, which is what the proxy spent its CPU time on), and for
// connrate the p50 and p99 session set-up times in milliseconds.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void set_timeouts(int fd, int seconds);

/// A TCP connection to loopback PORT; its connect, reads and writes give up after 5 s, so that a stuck
/// proxy fails an attempt instead of hanging a bounded loop.
static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    set_timeouts(fd, 5);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

/// Closes without TIME_WAIT, so that thousands of connections a second do not exhaust ephemeral ports.
static void close_reset(int fd) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0) return -1;
        got += r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = send(fd, (const char *)buf + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        sent += w;
    }
    return 0;
}

/// SOCKS5 no-auth handshake and a request (cmd) for 127.0.0.1:port, or for a domain when name != NULL.
/// Returns the reply's BND port, or -1.
static int socks_request(int fd, int cmd, int port, const char *name) {
    unsigned char req[300] = {5, 1, 0};
    if (write_full(fd, req, 3)) return -1;
    unsigned char sel[2];
    if (read_full(fd, sel, 2) || sel[0] != 5 || sel[1] != 0) return -1;
    size_t n = 0;
    req[n++] = 5; req[n++] = cmd; req[n++] = 0;
    if (name) {
        size_t len = strlen(name);
        req[n++] = 3; req[n++] = len; memcpy(req + n, name, len); n += len;
    } else {
        req[n++] = 1; req[n++] = 127; req[n++] = 0; req[n++] = 0; req[n++] = 1;
    }
    req[n++] = port >> 8; req[n++] = port & 0xff;
    if (write_full(fd, req, n)) return -1;
    unsigned char rep[4];
    if (read_full(fd, rep, 4) || rep[1] != 0) return -1;
    unsigned char addr[18];
    size_t alen = rep[3] == 1 ? 4 : rep[3] == 4 ? 16 : 0;
    if (rep[3] == 3) { unsigned char l; if (read_full(fd, &l, 1)) return -1; alen = l; }
    if (read_full(fd, addr, alen + 2)) return -1;
    return (addr[alen] << 8) | addr[alen + 1];
}

/// A connection to the target, through the proxy when proxy_port != 0.
static int open_stream(int proxy_port, int target_port) {
    if (!proxy_port) return tcp_connect(target_port);
    int fd = tcp_connect(proxy_port);
    if (fd < 0) return -1;
    if (socks_request(fd, 1, target_port, NULL) < 0) { close(fd); return -1; }
    return fd;
}

// ---------------------------------------------------------------- targets

static int listen_on(int port, int type) {
    int fd = socket(AF_INET, type, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a)) die("bind");
    if (type == SOCK_STREAM && listen(fd, 4096)) die("listen");
    return fd;
}

static void *source_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    static char buf[1 << 20];
    while (send(fd, buf, sizeof buf, MSG_NOSIGNAL) > 0) {}
    close(fd);
    return NULL;
}

/// Echoes until the peer closes, then answers its close with a reset: the peer (a proxy's outbound
/// connection) then keeps no TIME_WAIT socket on its ephemeral port. Otherwise every proxied session of
/// the connection tests leaves one for a minute, tens of thousands pile up, and a proxy that binds its
/// outbound sockets before connecting (Dante, to its `external` address) slows down more and more in
/// the kernel's search for a free port: its rate fell from about 4,500 to 700 sessions/s over six
/// consecutive 2-second tests. (The connection tests' clients close with a reset themselves.)
static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) if (write_full(fd, buf, r)) break;
    if (r == 0) close_reset(fd); else close(fd);
    return NULL;
}

struct server { int fd; void *(*handler)(void *); };

static void *accept_loop(void *arg) {
    struct server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) { if (errno == EMFILE || errno == ENFILE) usleep(10000); continue; }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, s->handler, (void *)(intptr_t)c)) close(c);
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static void *udp_echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    struct sockaddr_storage from;
    for (;;) {
        socklen_t len = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (r >= 0) sendto(fd, buf, r, 0, (struct sockaddr *)&from, len);
    }
    return NULL;
}

/// serve SOURCE ECHO UDPECHO SECONDS: targets on loopback for at most SECONDS.
static int cmd_serve(int source, int echo, int udpecho, int seconds) {
    static struct server s1, s2;
    s1.fd = listen_on(source, SOCK_STREAM); s1.handler = source_conn;
    s2.fd = listen_on(echo, SOCK_STREAM); s2.handler = echo_conn;
    int u = listen_on(udpecho, SOCK_DGRAM);
    pthread_t t;
    pthread_create(&t, NULL, accept_loop, &s1);
    pthread_create(&t, NULL, accept_loop, &s2);
    pthread_create(&t, NULL, udp_echo, (void *)(intptr_t)u);
    printf("ready\n");
    fflush(stdout);
    sleep(seconds);
    return 0;
}

// ---------------------------------------------------------------- clients

struct histogram;
// remaining: for the count-bounded `sessions` command, the sessions its clients have yet to start together.
struct job { int proxy, target; double seconds; long long count; int failed; long long total; struct histogram *latencies; long long *remaining; };

static void *download(void *arg) {
    struct job *j = arg;
    int fd = open_stream(j->proxy, j->target);
    if (fd < 0) { j->failed = 1; return NULL; }
    const size_t size = 1 << 20;
    char *buf = malloc(size);
    double end = now() + j->seconds;
    // Warm-up excluded: the first 10% of the time is not counted.
    double start_counting = now() + j->seconds * 0.1;
    long long counted = 0;
    double counted_from = 0;
    for (;;) {
        ssize_t r = read(fd, buf, size);
        if (r <= 0) { j->failed = 1; break; }
        j->total += r;
        double t = now();
        if (t >= start_counting) { if (!counted_from) counted_from = t; counted += r; }
        if (t >= end) break;
    }
    close_reset(fd);
    free(buf);
    double elapsed = now() - counted_from;
    j->count = elapsed > 0 ? (long long)(counted / elapsed) : 0;
    return NULL;
}

#define MAX_CLIENTS 64

/// throughput PROXY TARGET STREAMS SECONDS → aggregate MiB/s (after the warm-up), bytes received in all
static int cmd_throughput(int proxy, int target, int streams, double seconds) {
    if (streams < 1 || streams > MAX_CLIENTS) { fprintf(stderr, "throughput: 1 to %d streams\n", MAX_CLIENTS); return 64; }
    struct job jobs[MAX_CLIENTS] = {0};
    pthread_t threads[MAX_CLIENTS];
    for (int i = 0; i < streams; i++) {
        jobs[i] = (struct job){.proxy = proxy, .target = target, .seconds = seconds};
        pthread_create(&threads[i], NULL, download, &jobs[i]);
    }
    double rate = 0;
    long long bytes = 0;
    for (int i = 0; i < streams; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].failed && !jobs[i].count) { printf("failed\n"); return 1; }
        rate += jobs[i].count;
        bytes += jobs[i].total;
    }
    printf("%.1f %lld\n", rate / (1024.0 * 1024.0), bytes);
    return 0;
}

// Session set-up times in a histogram of fixed size, one per client thread, merged at the end: 1 µs buckets
// below 1,024 µs, then 64 buckets per doubling (each under 1.6% wide) up to 2^30 µs (18 minutes), so a
// run of any length takes the same memory and no allocation per session.
#define LATENCY_LINEAR 1024
#define LATENCY_STEPS 64
#define LATENCY_DOUBLINGS 20
#define LATENCY_BUCKETS (LATENCY_LINEAR + LATENCY_STEPS * LATENCY_DOUBLINGS)

struct histogram { long long counts[LATENCY_BUCKETS]; };

static int latency_bucket(long long us) {
    if (us < LATENCY_LINEAR) return us < 0 ? 0 : (int)us;
    int doubling = 63 - __builtin_clzll((unsigned long long)us) - 10;   // us >= 1024: 0 and up
    if (doubling >= LATENCY_DOUBLINGS) return LATENCY_BUCKETS - 1;
    int step = (int)((us >> (doubling + 4)) & (LATENCY_STEPS - 1));      // the 6 bits after the leading one
    return LATENCY_LINEAR + doubling * LATENCY_STEPS + step;
}

/// The middle of a bucket, in µs.
static double latency_of_bucket(int bucket) {
    if (bucket < LATENCY_LINEAR) return bucket + 0.5;
    int doubling = (bucket - LATENCY_LINEAR) / LATENCY_STEPS, step = (bucket - LATENCY_LINEAR) % LATENCY_STEPS;
    double base = (double)(1LL << (doubling + 10)), width = base / LATENCY_STEPS;
    return base + step * width + width / 2;
}

/// The QUANTILE (0 to 1) of the recorded times in ms, or -1 when none was recorded.
static double latency_quantile(const struct histogram *h, double quantile) {
    long long total = 0;
    for (int i = 0; i < LATENCY_BUCKETS; i++) total += h->counts[i];
    if (!total) return -1;
    long long rank = (long long)(quantile * total + 0.999999), seen = 0;
    if (rank < 1) rank = 1;
    for (int i = 0; i < LATENCY_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) return latency_of_bucket(i) / 1000;
    }
    return latency_of_bucket(LATENCY_BUCKETS - 1) / 1000;
}

static void *connect_loop(void *arg) {
    struct job *j = arg;
    double end = now() + j->seconds;
    for (double started = now(); started < end; started = now()) {
        if (j->remaining && __atomic_sub_fetch(j->remaining, 1, __ATOMIC_RELAXED) < 0) break;
        int fd = open_stream(j->proxy, j->target);
        if (fd < 0) { j->failed++; continue; }
        char c = 'x';
        if (write_full(fd, &c, 1) || read_full(fd, &c, 1)) j->failed++;
        else {
            j->count++;
            // From before the TCP connect to the first echoed byte: socket, connect, the SOCKS5 exchange
            // (when proxied), the target's connect and the echo.
            j->latencies->counts[latency_bucket((long long)((now() - started) * 1e6))]++;
        }
        close_reset(fd);
    }
    return NULL;
}

/// connrate PROXY ECHO CLIENTS SECONDS → sessions/s (new session + CONNECT + 1-byte echo + close), the
/// sessions, and their p50 and p99 set-up times (ms)
static int cmd_connrate(int proxy, int target, int clients, double seconds) {
    if (clients < 1 || clients > MAX_CLIENTS) { fprintf(stderr, "connrate: 1 to %d clients\n", MAX_CLIENTS); return 64; }
    struct job jobs[MAX_CLIENTS] = {0};
    pthread_t threads[MAX_CLIENTS];
    struct histogram *latencies = calloc(clients, sizeof *latencies);
    if (!latencies) die("calloc");
    double start = now();
    for (int i = 0; i < clients; i++) {
        jobs[i] = (struct job){.proxy = proxy, .target = target, .seconds = seconds, .latencies = &latencies[i]};
        pthread_create(&threads[i], NULL, connect_loop, &jobs[i]);
    }
    long long total = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        total += jobs[i].count;
        failed += jobs[i].failed;
        if (i > 0) for (int b = 0; b < LATENCY_BUCKETS; b++) latencies[0].counts[b] += latencies[i].counts[b];
    }
    double elapsed = now() - start;
    if (failed > total / 100) fprintf(stderr, "connrate: %lld failures\n", failed);
    printf("%.0f %lld %.3f %.3f\n", total / elapsed, total, latency_quantile(&latencies[0], 0.5), latency_quantile(&latencies[0], 0.99));
    free(latencies);
    return 0;
}

/// sessions PROXY ECHO CLIENTS COUNT → the sessions that succeeded and those that failed, of exactly COUNT
/// sessions as connrate opens them (new session + CONNECT + 1-byte echo + close with a reset), by CLIENTS
/// threads together; at most 600 s. For counting what a proxy does per session (allocations, system calls),
/// where a fixed amount of work matters, not its rate.
static int cmd_sessions(int proxy, int target, int clients, long long count) {
    if (clients < 1 || clients > MAX_CLIENTS || count < 1) { fprintf(stderr, "sessions: 1 to %d clients, at least 1 session\n", MAX_CLIENTS); return 64; }
    struct job jobs[MAX_CLIENTS] = {0};
    pthread_t threads[MAX_CLIENTS];
    struct histogram *latencies = calloc(clients, sizeof *latencies);
    if (!latencies) die("calloc");
    long long remaining = count;
    for (int i = 0; i < clients; i++) {
        jobs[i] = (struct job){.proxy = proxy, .target = target, .seconds = 600, .latencies = &latencies[i], .remaining = &remaining};
        pthread_create(&threads[i], NULL, connect_loop, &jobs[i]);
    }
    long long done = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        done += jobs[i].count;
        failed += jobs[i].failed;
    }
    printf("%lld %lld\n", done, failed);
    free(latencies);
    return failed != 0;
}

/// udp PROXY UDPECHO SECONDS → round trips/s of 64-byte datagrams (direct when PROXY is 0)
static int cmd_udp(int proxy, int target, double seconds) {
    int control = -1, relay_port = target;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in local = loopback(0);
    bind(u, (struct sockaddr *)&local, sizeof local);
    struct timeval tv = {1, 0};
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char packet[128], reply[256];
    size_t header = 0;
    if (proxy) {
        socklen_t len = sizeof local;
        getsockname(u, (struct sockaddr *)&local, &len);
        control = tcp_connect(proxy);
        if (control < 0) { printf("failed\n"); return 1; }
        relay_port = socks_request(control, 3, ntohs(local.sin_port), NULL);
        if (relay_port <= 0) { printf("failed\n"); return 1; }
        unsigned char h[10] = {0, 0, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff};
        memcpy(packet, h, 10);
        header = 10;
    }
    memset(packet + header, 'u', 64);
    struct sockaddr_in to = loopback(relay_port);
    connect(u, (struct sockaddr *)&to, sizeof to);
    long long trips = 0, lost = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        if (send(u, packet, header + 64, 0) < 0) { lost++; continue; }
        ssize_t r = recv(u, reply, sizeof reply, 0);
        if (r == (ssize_t)(header + 64)) trips++; else lost++;
    }
    double elapsed = now() - start;
    if (lost) fprintf(stderr, "udp: %lld lost\n", lost);
    printf("%.0f %lld\n", trips / elapsed, trips);
    if (control >= 0) close(control);
    close(u);
    return 0;
}

/// uot PROXY UDPECHO SECONDS → round trips/s over a UoT v2 connect-mode stream (64-byte payloads)
static int cmd_uot(int proxy, int target, double seconds) {
    int fd = tcp_connect(proxy);
    if (fd < 0 || socks_request(fd, 1, 0, "sp.v2.udp-over-tcp.arpa") < 0) { printf("failed\n"); return 1; }
    unsigned char first[8 + 2 + 64] = {1, 1, 127, 0, 0, 1, target >> 8, target & 0xff, 0, 64};
    memset(first + 10, 'v', 64);
    unsigned char frame[2 + 64] = {0, 64};
    memset(frame + 2, 'v', 64);
    unsigned char reply[2 + 64];
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    long long trips = 0;
    double start = now(), end = start + seconds;
    int first_done = 0;
    while (now() < end) {
        if (!first_done) { if (write_full(fd, first, sizeof first)) break; first_done = 1; }
        else if (write_full(fd, frame, sizeof frame)) break;
        if (read_full(fd, reply, sizeof reply)) break;
        trips++;
    }
    double elapsed = now() - start;
    close(fd);
    printf("%.0f %lld\n", trips / elapsed, trips);
    return 0;
}

/// Sets receive and send timeouts (which bound connect() too), so that a proxy that has stopped answering
/// (out of descriptors, its accept queue full) fails an attempt instead of hanging it.
static void set_timeouts(int fd, int seconds) {
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/// A TCP connection to loopback PORT whose connect, reads and writes give up after SECONDS.
static int tcp_connect_bounded(int port, int seconds) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    set_timeouts(fd, seconds);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

/// Holds the descriptors of the sessions an idle command opened for HOLD seconds, then closes them.
static int hold_and_close(int *fds, int count, int opened, int hold) {
    printf("held %d\n", opened);
    fflush(stdout);
    sleep(hold);
    for (int i = 0; i < count; i++) if (fds[i] >= 0) close(fds[i]);
    return 0;
}

/// idle PROXY ECHO COUNT HOLD: opens COUNT CONNECT sessions, prints "held", holds them HOLD seconds.
static int cmd_idle(int proxy, int target, int count, int hold) {
    int *fds = calloc(count, sizeof(int));
    int opened = 0;
    for (int i = 0; i < count; i++) {
        fds[i] = open_stream(proxy, target);
        if (fds[i] >= 0) {
            // One byte each way, so that every relay is fully set up, as a real idle session would be.
            char c = 'i';
            if (write_full(fds[i], &c, 1) == 0 && read_full(fds[i], &c, 1) == 0) opened++;
        }
    }
    return hold_and_close(fds, count, opened, hold);
}

/// One UDP association through the proxy, its datagram socket connected to the relay, having echoed one
/// datagram; returns the control connection (and the UDP socket in *udp), or -1.
static int open_udp_association(int proxy, int target, int *udp) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) return -1;
    struct sockaddr_in local = loopback(0);
    socklen_t len = sizeof local;
    if (bind(u, (struct sockaddr *)&local, sizeof local) || getsockname(u, (struct sockaddr *)&local, &len)) { close(u); return -1; }
    set_timeouts(u, 1);
    int control = tcp_connect_bounded(proxy, 5);
    if (control < 0) { close(u); return -1; }
    int relay_port = socks_request(control, 3, ntohs(local.sin_port), NULL);
    struct sockaddr_in to = loopback(relay_port);
    if (relay_port <= 0 || connect(u, (struct sockaddr *)&to, sizeof to)) { close(u); close(control); return -1; }
    unsigned char packet[11] = {0, 0, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff, 'a'}, reply[64];
    // Loopback loses a datagram only when a buffer overflows: a few tries.
    for (int attempt = 0; attempt < 3; attempt++) {
        if (send(u, packet, sizeof packet, 0) < 0) break;
        if (recv(u, reply, sizeof reply, 0) == (ssize_t)sizeof packet) { *udp = u; return control; }
    }
    close(u);
    close(control);
    return -1;
}

/// idleudp PROXY UDPECHO COUNT HOLD: opens COUNT UDP associations, each having echoed one datagram, prints
/// "held N", holds them HOLD seconds.
static int cmd_idleudp(int proxy, int target, int count, int hold) {
    int *fds = malloc(2 * count * sizeof(int));
    int opened = 0;
    for (int i = 0; i < count; i++) {
        fds[2 * i] = open_udp_association(proxy, target, &fds[2 * i + 1]);
        if (fds[2 * i] >= 0) opened++; else fds[2 * i + 1] = -1;
    }
    return hold_and_close(fds, 2 * count, opened, hold);
}

/// idleuot PROXY UDPECHO COUNT HOLD: opens COUNT UoT v2 streams (connect mode to UDPECHO, the header sent
/// and one frame echoed), prints "held N", holds them HOLD seconds.
static int cmd_idleuot(int proxy, int target, int count, int hold) {
    int *fds = malloc(count * sizeof(int));
    int opened = 0;
    for (int i = 0; i < count; i++) {
        int fd = tcp_connect_bounded(proxy, 5);
        fds[i] = -1;
        if (fd < 0) continue;
        unsigned char first[8 + 2 + 1] = {1, 1, 127, 0, 0, 1, target >> 8, target & 0xff, 0, 1, 'a'}, reply[3];
        if (socks_request(fd, 1, 0, "sp.v2.udp-over-tcp.arpa") < 0 || write_full(fd, first, sizeof first) || read_full(fd, reply, sizeof reply)) {
            close(fd);
            continue;
        }
        fds[i] = fd;
        opened++;
    }
    return hold_and_close(fds, count, opened, hold);
}

/// ceiling PROXY ECHO MAX: opens idle CONNECT sessions (each echoing one byte) until one fails or MAX are
/// open, prints how many succeeded, then closes them. Each attempt gives up after 3 s.
static int cmd_ceiling(int proxy, int target, int max) {
    int *fds = malloc(max * sizeof(int));
    int opened = 0;
    while (opened < max) {
        int fd = tcp_connect_bounded(proxy, 3);
        if (fd < 0) break;
        char c = 'c';
        if (socks_request(fd, 1, target, NULL) < 0 || write_full(fd, &c, 1) || read_full(fd, &c, 1)) { close(fd); break; }
        fds[opened++] = fd;
    }
    printf("%d\n", opened);
    fflush(stdout);
    for (int i = 0; i < opened; i++) close(fds[i]);
    return 0;
}

/// startup COMMAND...: milliseconds from exec to the first "listening on" line on standard error.
static int cmd_startup(char **argv) {
    int pipefd[2];
    if (pipe(pipefd)) die("pipe");
    double start = now();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    char buf[4096];
    size_t used = 0;
    double ms = -1;
    while (used < sizeof buf - 1) {
        ssize_t r = read(pipefd[0], buf + used, sizeof buf - 1 - used);
        if (r <= 0) break;
        used += r;
        buf[used] = 0;
        if (strstr(buf, "listening on")) { ms = (now() - start) * 1000; break; }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    printf("%.1f\n", ms);
    return ms < 0;
}

// ---------------------------------------------------------------- CPU time of a process tree

struct process { int pid, ppid, in_tree; long long own_ticks, reaped_ticks, own_system_ticks, reaped_system_ticks; };

/// Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses): ppid, and
/// utime + stime (the process's own threads, exited ones included) and cutime + cstime (children it has
/// reaped, with their own reaped descendants), in clock ticks; and the system (kernel) parts alone, stime
/// and cstime.
static int read_stat(int pid, struct process *p) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rest = strrchr(buf, ')');
    if (!rest) return -1;
    // After ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    char state;
    unsigned long long utime, stime;
    long long cutime, cstime;
    if (sscanf(rest + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &state, &p->ppid, &utime, &stime, &cutime, &cstime) != 6) return -1;
    p->pid = pid;
    p->own_ticks = (long long)(utime + stime);
    p->reaped_ticks = cutime + cstime;
    p->own_system_ticks = (long long)stime;
    p->reaped_system_ticks = cstime;
    p->in_tree = 0;
    return 0;
}

/// cpu PID...: for each PID, the CPU time (user + system, ns) of that process and all its descendants, on
/// one line. A live process counts through its CPU-time clock (nanoseconds, every thread it ever had: a
/// thread per client that has exited still counts); children that have exited and been reaped count
/// through their parent's cutime + cstime (clock ticks). Descendants are found through the ppid chains
/// of every process in /proc at the moment of the call.
///
/// cpusys PID...: the same trees' system (kernel) CPU time alone, in ns, from the stime and cstime ticks
/// (the kernel splits a thread's precise run time into user and system in proportion to its tick
/// samples, so this part is as fine as a tick, 10 ms: measure over seconds).
static int cmd_cpu(int count, char **pids, int system_only) {
    DIR *proc = opendir("/proc");
    if (!proc) die("/proc");
    size_t capacity = 1024, used = 0;
    struct process *all = malloc(capacity * sizeof *all);
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        if (!isdigit((unsigned char)entry->d_name[0])) continue;
        if (used == capacity) { capacity *= 2; all = realloc(all, capacity * sizeof *all); if (!all) die("realloc"); }
        if (read_stat(atoi(entry->d_name), &all[used]) == 0) used++;
    }
    closedir(proc);
    double ns_per_tick = 1e9 / sysconf(_SC_CLK_TCK);
    for (int k = 0; k < count; k++) {
        int root = atoi(pids[k]), found = 0;
        for (size_t i = 0; i < used; i++) { all[i].in_tree = all[i].pid == root; found |= all[i].in_tree; }
        if (!found) { printf("%sfailed", k ? " " : ""); continue; }
        // Parents before children is not guaranteed in /proc's order: mark until nothing changes (at most
        // one pass per generation).
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t i = 0; i < used; i++) {
                if (all[i].in_tree) continue;
                for (size_t j = 0; j < used; j++) {
                    if (all[j].in_tree && all[j].pid == all[i].ppid) { all[i].in_tree = changed = 1; break; }
                }
            }
        }
        double ns = 0;
        for (size_t i = 0; i < used; i++) {
            if (!all[i].in_tree) continue;
            if (system_only) {
                ns += (all[i].own_system_ticks + all[i].reaped_system_ticks) * ns_per_tick;
                continue;
            }
            clockid_t clock;
            struct timespec t;
            if (clock_getcpuclockid(all[i].pid, &clock) == 0 && clock_gettime(clock, &t) == 0) ns += t.tv_sec * 1e9 + t.tv_nsec;
            else ns += all[i].own_ticks * ns_per_tick;   // exited since the scan: its last ticks
            ns += all[i].reaped_ticks * ns_per_tick;
        }
        printf("%s%.0f", k ? " " : "", ns);
    }
    printf("\n");
    free(all);
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 6 && !strcmp(argv[1], "serve")) return cmd_serve(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "throughput")) return cmd_throughput(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "connrate")) return cmd_connrate(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "sessions")) return cmd_sessions(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoll(argv[5]));
    if (argc >= 5 && !strcmp(argv[1], "udp")) return cmd_udp(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "uot")) return cmd_uot(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
    if (argc >= 6 && !strcmp(argv[1], "idle")) return cmd_idle(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "idleudp")) return cmd_idleudp(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "idleuot")) return cmd_idleuot(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 5 && !strcmp(argv[1], "ceiling")) return cmd_ceiling(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc >= 3 && !strcmp(argv[1], "startup")) return cmd_startup(argv + 2);
    if (argc >= 3 && !strcmp(argv[1], "cpu")) return cmd_cpu(argc - 2, argv + 2, 0);
    if (argc >= 3 && !strcmp(argv[1], "cpusys")) return cmd_cpu(argc - 2, argv + 2, 1);
    fprintf(stderr, "usage: loadgen serve|throughput|connrate|sessions|udp|uot|idle|idleudp|idleuot|ceiling|startup|cpu|cpusys ...\n");
    return 64;
}
