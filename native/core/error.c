/* error.c: the thread-local last-error message, status names and the monotonic clock. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "model.h"

static _Thread_local char last_error[512];

lr_status lr_fail(lr_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *lr_last_error(void) { return last_error; }

const char *lr_status_name(lr_status s) {
    switch (s) {
    case LR_OK: return "ok";
    case LR_ERR_ARGUMENT: return "bad argument";
    case LR_ERR_IO: return "i/o error";
    case LR_ERR_FORMAT: return "bad model format";
    case LR_ERR_UNSUPPORTED: return "unsupported";
    case LR_ERR_MEMORY: return "out of memory";
    case LR_ERR_RUNTIME: return "runtime error";
    }
    return "unknown status";
}

int64_t lr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define LR_STR2(x) #x
#define LR_STR(x) LR_STR2(x)
#ifndef LR_BUILD_FLAGS
#define LR_BUILD_FLAGS "unknown flags"
#endif
#ifndef LR_SOURCE_HASH /* the sources' content hash (CMakeLists.txt, loadrun/build.py) */
#define LR_SOURCE_HASH "unknown"
#endif

const char *lr_version(void) {
    return LR_STR(LR_VERSION_MAJOR) "." LR_STR(LR_VERSION_MINOR) "." LR_STR(LR_VERSION_PATCH);
}

const char *lr_build_id(void) {
    return "loadrun " LR_STR(LR_VERSION_MAJOR) "." LR_STR(LR_VERSION_MINOR) "." LR_STR(LR_VERSION_PATCH)
           " src " LR_SOURCE_HASH
#if defined(__clang__)
           " clang " __clang_version__
#elif defined(__GNUC__)
           " gcc " __VERSION__
#endif
#if defined(__x86_64__)
           " x86_64"
#elif defined(__aarch64__)
           " aarch64"
#endif
           " generic [" LR_BUILD_FLAGS "]";
}
