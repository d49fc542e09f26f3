// An LD_PRELOAD shim that counts a process's calls to the C allocation functions, for the benchmark's
// "allocations per CONNECT session" row:
//
//   gcc -O2 -shared -fPIC -o malloccount.so Benchmarks/malloccount.c
//   MALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=$PWD/malloccount.so socksd ...
//   od -An -t u8 -w40 /tmp/counts      # malloc calloc realloc aligned free, at any moment
//
// The counters live in a file mapped shared (MALLOC_COUNT_FILE, created or truncated at start), so the
// benchmark reads them while the process runs, before and after a bounded run of sessions, without a
// signal (socksd handles SIGHUP, SIGUSR1 and SIGUSR2 itself) and without the process exiting. Increments
// are relaxed atomics: threads (microsocks has one per client, socksd an event loop per core) lose none.
//
// Each function forwards to glibc's own allocator through its exported `__libc_*` entry points, not
// dlsym(RTLD_NEXT) (dlsym allocates, which would recurse). glibc supports replacing malloc this way, and
// its own internal allocations (getaddrinfo, stdio, pthread_create's TLS) then come through here too, as
// do the Swift runtime's (swift_slowAlloc calls malloc, or aligned_alloc/posix_memalign for alignments over
// 16) and C++'s operator new. `free` is counted too (for the log); the rows count the other five kinds.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

enum { COUNT_MALLOC, COUNT_CALLOC, COUNT_REALLOC, COUNT_ALIGNED, COUNT_FREE, COUNT_SLOTS };

// Until the constructor has mapped the file (the dynamic loader and libc's start-up allocate before it
// runs), counts go here; the constructor carries them over.
static uint64_t early[COUNT_SLOTS];
static uint64_t *counters = early;

static inline void count(int slot) { __atomic_fetch_add(&counters[slot], 1, __ATOMIC_RELAXED); }

__attribute__((constructor)) static void malloccount_init(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (!path || !*path) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t size = COUNT_SLOTS * sizeof(uint64_t);
    if (ftruncate(fd, (off_t)size) != 0) { close(fd); return; }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return;
    uint64_t *shared = map;
    for (int i = 0; i < COUNT_SLOTS; i++) shared[i] = __atomic_load_n(&early[i], __ATOMIC_RELAXED);
    // Constructors run before main and before the process starts threads: a plain store would do; the
    // atomic one says that the hot path reads this pointer.
    __atomic_store_n(&counters, shared, __ATOMIC_RELEASE);
}

void *malloc(size_t size) { count(COUNT_MALLOC); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(COUNT_CALLOC); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(COUNT_REALLOC); return __libc_realloc(p, size); }

void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return realloc(p, total);
}

void *memalign(size_t alignment, size_t size) { count(COUNT_ALIGNED); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(COUNT_ALIGNED); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { count(COUNT_ALIGNED); return __libc_valloc(size); }
void *pvalloc(size_t size) { count(COUNT_ALIGNED); return __libc_pvalloc(size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    count(COUNT_ALIGNED);
    if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p) {
    if (p) count(COUNT_FREE);
    __libc_free(p);
}
