// An LD_PRELOAD shim that logs every task-allocator allocation of a Swift process while a trigger file
// exists: which task, how many bytes, which function asked (the return address), and every release. With
// Benchmarks/tasktrace.py it shows the stack of async frames each task of a session builds, its deepest
// point, and the allocator slabs the runtime keeps for it (a task keeps every slab its deepest stack needed
// until the task ends: that is most of an idle session's memory).
//
//   gcc -O2 -shared -fPIC -o tasktrace.so Benchmarks/tasktrace.c -ldl
//   TASKTRACE_TRIGGER=/tmp/tt.on TASKTRACE_LOG=/tmp/tt.log LD_PRELOAD=$PWD/tasktrace.so socksd ...
//   touch /tmp/tt.on; (open one session); rm /tmp/tt.on
//   python3 Benchmarks/tasktrace.py /tmp/tt.log BINARY TEXT_BASE   # TEXT_BASE: the binary's r-xp start in /proc/PID/maps
//
// The trigger is checked with access(2) on every call, so only trace a handful of sessions.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *(*real_alloc)(size_t);
static void (*real_dealloc)(void *);
static void *(*current_task)(void);
static FILE *out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int tracing(void) {
    const char *trigger = getenv("TASKTRACE_TRIGGER");
    return trigger && access(trigger, F_OK) == 0;
}

static void record(char kind, size_t size, void *caller, void *pointer) {
    pthread_mutex_lock(&lock);
    if (!out) {
        const char *path = getenv("TASKTRACE_LOG");
        out = fopen(path ? path : "/tmp/tasktrace.log", "w");
    }
    if (out) {
        fprintf(out, "%c %p %zu %p %p\n", kind, current_task ? current_task() : NULL, size, caller, pointer);
        fflush(out);
    }
    pthread_mutex_unlock(&lock);
}

void *swift_task_alloc(size_t size) {
    if (!real_alloc) {
        real_alloc = dlsym(RTLD_NEXT, "swift_task_alloc");
        current_task = dlsym(RTLD_DEFAULT, "swift_task_getCurrent");
    }
    void *pointer = real_alloc(size);
    if (tracing()) record('A', size, __builtin_return_address(0), pointer);
    return pointer;
}

void swift_task_dealloc(void *pointer) {
    if (!real_dealloc) real_dealloc = dlsym(RTLD_NEXT, "swift_task_dealloc");
    if (tracing()) record('D', 0, NULL, pointer);
    real_dealloc(pointer);
}
