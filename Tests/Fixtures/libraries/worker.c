// A library for the function-worker tests (Tests/ForkctlIntegrationTests/FunctionWorkerTests.swift): an init and entries
// that report what a worker sees. Built by the test run: cc -shared -fPIC.
#define _GNU_SOURCE
#include <forkctl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char model[256] = "none";
static int atfork_child_ran;
static pthread_mutex_t *shared_mutex;

static void in_child(void) { atfork_child_ran = 1; }

static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig) {
  (void)sig;
  usr1_seen = 1;
}

// argv: LIBRARY [MODEL [fail=N | robust | handler]...]
int forkctl_init(int argc, char **argv) {
  pthread_atfork(NULL, NULL, in_child);
  if (argc > 1) snprintf(model, sizeof(model), "%s", argv[1]);
  for (int i = 2; i < argc; i++) {
    if (strncmp(argv[i], "fail=", 5) == 0) return atoi(argv[i] + 5);
    if (strcmp(argv[i], "handler") == 0) signal(SIGUSR1, on_usr1);
    if (strcmp(argv[i], "robust") == 0) {
      // A robust, process-shared mutex in memory every worker shares.
      shared_mutex = mmap(NULL, sizeof(*shared_mutex), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      pthread_mutexattr_t a;
      pthread_mutexattr_init(&a);
      pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
      pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
      pthread_mutex_init(shared_mutex, &a);
    }
  }
  return 0;
}

static void *tick(void *p) {
  (void)p;
  for (;;) pause();
  return NULL;
}

// A second init: starts a thread named "ticker" that never ends.
int start_thread(int argc, char **argv) {
  (void)argc;
  (void)argv;
  pthread_t t;
  if (pthread_create(&t, NULL, tick, NULL) != 0) return 1;
  pthread_setname_np(t, "ticker");
  return 0;
}

// Prints argv, FOO, the working directory and the open descriptors; returns argc.
int show(int argc, char **argv) {
  printf("model=%s argv=", model);
  for (int i = 0; i < argc; i++) printf("%s%s", i ? "|" : "", argv[i]);
  char cwd[512];
  printf(" FOO=%s cwd=%s fds=", getenv("FOO") ? getenv("FOO") : "-", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
  DIR *d = opendir("/proc/self/fd");
  int self = dirfd(d);
  struct dirent *e;
  int first = 1;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
    printf("%s%s", first ? "" : ",", e->d_name);
    first = 0;
  }
  closedir(d);
  printf("\n");
  return argc;
}

// What glibc's fork set up: the atfork child handler ran, the cached thread id is this
// process's (a clock for pthread_self() works), and the parent is the daemon.
int identity(int argc, char **argv) {
  (void)argc;
  (void)argv;
  clockid_t clock;
  struct timespec ts;
  int clock_ok = pthread_getcpuclockid(pthread_self(), &clock) == 0 && clock_gettime(clock, &ts) == 0;
  printf("atfork=%d tid=%d clock=%d ppid=%d\n", atfork_child_ran, syscall(SYS_gettid) == getpid(), clock_ok,
         (int)getppid());
  return 0;
}

// Takes the shared robust mutex and dies holding it.
int lock_and_die(int argc, char **argv) {
  (void)argc;
  (void)argv;
  pthread_mutex_lock(shared_mutex);
  _exit(3);
}

// Takes the shared robust mutex: EOWNERDEAD when its owner died holding it.
int take_lock(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int e = pthread_mutex_lock(shared_mutex);
  printf("%s\n", e == EOWNERDEAD ? "EOWNERDEAD" : e == 0 ? "locked" : strerror(e));
  return 0;
}

// Raises SIGUSR1: returns 5 when the init's handler caught it (it would kill otherwise).
int usr1(int argc, char **argv) {
  (void)argc;
  (void)argv;
  raise(SIGUSR1);
  return usr1_seen ? 5 : 0;
}

// include/forkctl.h's helper: the kept control socket's number, and whether it is a socket.
int control(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int fd = forkctl_control_fd();
  struct stat st;
  printf("control=%d socket=%d\n", fd, fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode));
  return 0;
}

// Whether standard input is a terminal, and which.
int terminal(int argc, char **argv) {
  (void)argc;
  (void)argv;
  const char *name = isatty(0) ? ttyname(0) : NULL;
  printf("tty=%s\n", name ? name : "none");
  return 0;
}

int answer(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 42;
}

int crash(int argc, char **argv) {
  (void)argc;
  (void)argv;
  raise(SIGSEGV);
  return 0;
}

// Waits until the file argv[1] exists, then returns 7.
int await_file(int argc, char **argv) {
  while (argc > 1 && access(argv[1], F_OK) != 0) usleep(10000);
  return 7;
}
