// The tiny C process of Scripts/bench's code groups. Built by Scripts/bench:
//   cc -O2 -o bench-host host.c -ldl
//
//   bench-host floor N          fork(2), _exit(0) in the child, waitpid(2) in the parent, N
//                               times after one untimed; prints the microseconds the N took
//                               (the floor of the function-worker group)
//   bench-host independent LIB MB
//                               one of the sharing group's independent processes: dlopen
//                               LIB, its forkctl_init(LIB, MB), then its share_read (the
//                               same work a forkctl worker does, on data of its own)
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fork_exit_wait(void) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(0);
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return 0;
}

static long long microseconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int floor_loop(long n) {
  if (fork_exit_wait() != 0) return perror("bench-host floor: fork"), 1;
  long long t0 = microseconds();
  for (long i = 0; i < n; i++)
    if (fork_exit_wait() != 0) return perror("bench-host floor: fork"), 1;
  printf("%lld\n", microseconds() - t0);
  return 0;
}

typedef int (*entry)(int, char **);

static int independent(char *library, char *mb) {
  void *h = dlopen(library, RTLD_NOW);
  if (h == NULL) return fprintf(stderr, "bench-host: %s\n", dlerror()), 1;
  entry init = (entry)dlsym(h, "forkctl_init"), work = (entry)dlsym(h, "share_read");
  if (init == NULL || work == NULL) return fprintf(stderr, "bench-host: %s lacks an entry\n", library), 1;
  char *init_argv[] = {library, mb, NULL}, *work_argv[] = {"share_read", NULL};
  int code = init(2, init_argv);
  if (code != 0) return fprintf(stderr, "bench-host: forkctl_init returned %d\n", code), code;
  return work(1, work_argv);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "floor") == 0 && atol(argv[2]) > 0) return floor_loop(atol(argv[2]));
  if (argc == 4 && strcmp(argv[1], "independent") == 0) return independent(argv[2], argv[3]);
  fprintf(stderr, "usage: bench-host floor N | bench-host independent LIBRARY MB\n");
  return 2;
}
