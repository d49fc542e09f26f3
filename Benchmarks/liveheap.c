// An LD_PRELOAD shim that answers "what does an idle session keep on the heap, and who allocated it?": it
// remembers every live allocation whose size is in [LIVEHEAP_MIN, LIVEHEAP_MAX] with the return addresses of
// its call stack, and when the trigger file appears, writes the live ones out (size, then addresses) and
// removes the trigger. With Benchmarks/liveheap.py the output becomes counts per call stack, symbolized,
// divided by the number of sessions held: allocations that every session keeps show up as 1.00 each.
//
//   gcc -O1 -shared -fPIC -o liveheap.so Benchmarks/liveheap.c
//   LIVEHEAP_TRIGGER=/tmp/lh.on LIVEHEAP_OUT=/tmp/lh.txt LIVEHEAP_MIN=200 LIVEHEAP_MAX=1100 LD_PRELOAD=$PWD/liveheap.so socksd ...
//   (hold N idle sessions, e.g. `loadgen idleudp PROXY UDPECHO N 6`); touch /tmp/lh.on; wait for /tmp/lh.txt
//   grep r-xp /proc/PID/maps > /tmp/lh.maps   (while socksd still runs)
//   python3 Benchmarks/liveheap.py /tmp/lh.txt /tmp/lh.maps N
//
// Found with it (issue 19): the handshake's 768-byte pooled buffer, held for a UDP association's whole life;
// 512 bytes of task-group storage per group; the task allocator's 1,016-byte slabs, one of them taken at a
// task's start for its executor preference.
#define _GNU_SOURCE
#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define TABLE (1 << 20)  // open addressing; far more slots than a benchmark's live allocations in range
#define DEPTH 8
#define TOMBSTONE ((void *)1)

typedef struct {
    void *pointer;
    uint32_t size;
    void *stack[DEPTH];
} Entry;

static Entry *table;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static size_t minimum = 200, maximum = 1100;
static __thread int inside;  // backtrace() may allocate: those allocations are not recorded

static void remember(void *pointer, size_t size) {
    if (!pointer || !ready || inside || size < minimum || size > maximum) return;
    void *stack[DEPTH + 2];
    inside = 1;
    int depth = backtrace(stack, DEPTH + 2);
    inside = 0;
    uintptr_t slot = ((uintptr_t)pointer >> 4) & (TABLE - 1);
    pthread_mutex_lock(&lock);
    while (table[slot].pointer && table[slot].pointer != TOMBSTONE) slot = (slot + 1) & (TABLE - 1);
    table[slot].pointer = pointer;
    table[slot].size = (uint32_t)size;
    memset(table[slot].stack, 0, sizeof table[slot].stack);
    for (int i = 2; i < depth && i - 2 < DEPTH; i++) table[slot].stack[i - 2] = stack[i];  // skip this shim
    pthread_mutex_unlock(&lock);
}

static void forget(void *pointer) {
    if (!pointer || !ready) return;
    uintptr_t slot = ((uintptr_t)pointer >> 4) & (TABLE - 1);
    pthread_mutex_lock(&lock);
    for (int probes = 0; probes < 4096 && table[slot].pointer; probes++) {
        if (table[slot].pointer == pointer) {
            table[slot].pointer = TOMBSTONE;
            break;
        }
        slot = (slot + 1) & (TABLE - 1);
    }
    pthread_mutex_unlock(&lock);
}

void *malloc(size_t n) { void *p = __libc_malloc(n); remember(p, n); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); remember(p, a * b); return p; }
void *realloc(void *old, size_t n) { forget(old); void *p = __libc_realloc(old, n); remember(p, n); return p; }
void *aligned_alloc(size_t a, size_t n) { void *p = __libc_memalign(a, n); remember(p, n); return p; }
void *memalign(size_t a, size_t n) { void *p = __libc_memalign(a, n); remember(p, n); return p; }
int posix_memalign(void **result, size_t a, size_t n) {
    void *p = __libc_memalign(a, n);
    if (!p) return 12;  // ENOMEM
    *result = p;
    remember(p, n);
    return 0;
}
void free(void *p) { forget(p); __libc_free(p); }

static void *watch(void *unused) {
    (void)unused;
    const char *trigger = getenv("LIVEHEAP_TRIGGER");
    const char *out = getenv("LIVEHEAP_OUT");
    if (!trigger) trigger = "/tmp/liveheap.on";
    if (!out) out = "/tmp/liveheap.txt";
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", out);
    for (;;) {
        usleep(200000);
        if (access(trigger, F_OK) != 0) continue;
        unlink(trigger);
        FILE *file = fopen(partial, "w");
        if (!file) continue;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < TABLE; i++) {
            if (!table[i].pointer || table[i].pointer == TOMBSTONE) continue;
            fprintf(file, "%u", table[i].size);
            for (int j = 0; j < DEPTH; j++) fprintf(file, " %p", table[i].stack[j]);
            fputc('\n', file);
        }
        pthread_mutex_unlock(&lock);
        fclose(file);
        rename(partial, out);  // the reader sees the whole file or none
    }
    return NULL;
}

__attribute__((constructor)) static void start(void) {
    table = mmap(NULL, sizeof(Entry) * TABLE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) return;
    if (getenv("LIVEHEAP_MIN")) minimum = strtoul(getenv("LIVEHEAP_MIN"), NULL, 10);
    if (getenv("LIVEHEAP_MAX")) maximum = strtoul(getenv("LIVEHEAP_MAX"), NULL, 10);
    void *warm[2];
    inside = 1;
    backtrace(warm, 2);  // loads libgcc's unwinder now, not inside a malloc
    inside = 0;
    ready = 1;
    pthread_t thread;
    pthread_create(&thread, NULL, watch, NULL);
    pthread_detach(thread);
}
