// The library of Scripts/bench's code groups, loaded into a forkctl template (forkctl load)
// and, for the comparison, into each independent process by host.c. Built by Scripts/bench:
//   cc -shared -fPIC -O2 -o libbench.so library.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t *data;
static size_t words;

// argv: LIBRARY MB. Builds MB MiB of data once: written word by word, so that every page
// is this process's own (4 KiB pages, MADV_NOHUGEPAGE, like a malloc heap by default).
int forkctl_init(int argc, char **argv) {
  if (argc < 2) return 0;
  size_t bytes = (size_t)strtoul(argv[1], NULL, 10) << 20;
  if (bytes == 0) return 0;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 71;
  madvise(p, bytes, MADV_NOHUGEPAGE);
  data = p;
  words = bytes / sizeof(*data);
  for (size_t i = 0; i < words; i++) data[i] = i * 0x9e3779b97f4a7c15u;
  return 0;
}

// The sharing group's worker: reads every word of the data, writes its checksum as one
// line on descriptor 1 (a pipe shared by all workers: 17 bytes, under PIPE_BUF, so lines
// do not mix, pipe(7)), then stays alive until descriptor 0 reaches end of file, so that
// its memory can be read.
int share_read(int argc, char **argv) {
  (void)argc;
  (void)argv;
  uint64_t sum = 0;
  for (size_t i = 0; i < words; i++) sum += data[i];
  char line[18];
  snprintf(line, sizeof(line), "%016llx\n", (unsigned long long)sum);
  if (write(1, line, 17) != 17) return 1;
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

// The function-worker group's trivial work.
int nothing(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 0;
}
