// The library TelemetryTests load into templates: memory written in the template by its
// init and in workers by their functions, and a library opened after the fork.
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// What the template wrote (forkctl_init): its workers share it until they write it.
static char *template_data;
static size_t template_size;
// What a worker wrote of its own: kept, so that the compiler cannot drop the writes.
char *worker_data;

static size_t megabytes(const char *text) { return (size_t)atol(text) << 20; }

// Tells the test (on descriptor 1) that the worker is ready to be measured, then waits to be
// killed.
static int ready_then_wait(void) {
  if (write(1, "ready\n", 6) != 6) return 1;
  for (;;) pause();
}

// argv[1]: megabytes the template writes, which its forks share.
int forkctl_init(int argc, char **argv) {
  if (argc < 2) return 0;
  template_size = megabytes(argv[1]);
  template_data = malloc(template_size);
  if (!template_data) return 2;
  memset(template_data, 1, template_size);
  return 0;
}

// argv[1]: megabytes of the template's data the worker writes again (copied on write);
// argv[2], if any: megabytes it allocates and writes besides.
int dirty(int argc, char **argv) {
  size_t copied = argc > 1 ? megabytes(argv[1]) : 0;
  if (copied > template_size) return 3;
  // One byte per page is enough to copy the page.
  for (size_t i = 0; i < copied; i += 4096) template_data[i] = 2;
  if (argc > 2) {
    size_t n = megabytes(argv[2]);
    worker_data = malloc(n);
    if (!worker_data) return 4;
    memset(worker_data, 3, n);
  }
  return ready_then_wait();
}

// Opens zlib, which the template never mapped: audit names it.
int open_zlib(int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (!dlopen("libz.so.1", RTLD_NOW)) return 5;
  return ready_then_wait();
}

// Loads nothing: audit names nothing.
int idle(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return ready_then_wait();
}
