// A library for the function-worker tests of what differs from exec
// (Tests/ForkctlIntegrationTests/FunctionWorkerLifecycleTests.swift, include/forkctl.h):
// the end of a worker (exit or _exit), stdio the init buffered, descriptors the init
// opened, a thread that ends just after the init, and pthread_self() in a worker.
// Built by the test run: cc -shared -fPIC.
#define _GNU_SOURCE
#include <fcntl.h>
#include <forkctl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *brief(void *p) {
  struct timespec t = {0, (long)(intptr_t)p * 1000000};
  nanosleep(&t, NULL);
  return NULL;
}

// argv: LIBRARY [log=PATH | fd=N:PATH | thread=MS]...
//   log=PATH   writes "init\n" to PATH through a stdio buffer it leaves unflushed
//   fd=N:PATH  opens PATH on descriptor N, and keeps it
//   thread=MS  starts a thread that ends after MS milliseconds
int forkctl_init(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "log=", 4) == 0) {
      FILE *log = fopen(argv[i] + 4, "a");
      if (log == NULL) return 70;
      fputs("init\n", log);
    } else if (strncmp(argv[i], "fd=", 3) == 0) {
      char *path = strchr(argv[i], ':');
      if (path == NULL) return 64;
      int fd = open(path + 1, O_RDONLY);
      if (fd < 0 || dup2(fd, atoi(argv[i] + 3)) < 0) return 71;
      close(fd);
    } else if (strncmp(argv[i], "thread=", 7) == 0) {
      pthread_t t;
      if (pthread_create(&t, NULL, brief, (void *)(intptr_t)atoi(argv[i] + 7)) != 0) return 72;
      pthread_detach(t);
    }
  }
  return 0;
}

static void at_exit(void) { fputs(" atexit", stdout); }

// Buffers "buffered" on stdout (a pipe: fully buffered) and registers an atexit handler;
// both reach stdout only if the worker ends with exit(3).
int buffered(int argc, char **argv) {
  (void)argc;
  (void)argv;
  atexit(at_exit);
  fputs("buffered", stdout);
  return 3;
}

// Prints what descriptor argv[1] is open on, or "closed".
int describe_fd(int argc, char **argv) {
  if (argc < 2) return 64;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%s", argv[1]);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  printf("%s\n", n < 0 ? "closed" : (target[n] = '\0', target));
  return 0;
}

// Pins the calling thread (pthread_self()) to the first CPU it may run on, and prints how
// many CPUs it may run on afterwards: 1, in the worker's own thread, not the template's.
int pin(int argc, char **argv) {
  (void)argc;
  (void)argv;
  cpu_set_t set;
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return 70;
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
    if (CPU_ISSET(c, &set)) first = c;
  CPU_ZERO(&set);
  CPU_SET(first, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) return 71;
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return 72;
  printf("%d\n", CPU_COUNT(&set));
  return 0;
}

int answer(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 42;
}
