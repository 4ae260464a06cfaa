// The prefork HTTP worker of Scripts/bench's HTTP group, the same binary behind every
// contender that runs C (the floor, Parallel::Prefork, the forkctl pool). Built by
// Scripts/bench:
//   cc -O2 -I include -o http-handler http-handler.c
//
//   http-handler        accepts on the listening socket at descriptor 3 (inherited), reads
//                       one request up to its blank line, writes a fixed 200 response with
//                       Content-Length and Connection: close, closes, and loops
//
// It tells a forkctl pool what it does with forkctl_notify (include/forkctl.h): READY=1 once,
// BUSY=1 when accept(2) returns, IDLE=1 when the connection is closed; outside a pool these
// find no notify variable and return 0.
//
// SIGTERM (a pool shrinking or stopping, Parallel::Prefork's manager, the bench's own kill)
// sets a flag through a handler installed without SA_RESTART, so that accept(2) fails with
// EINTR (signal(7), "Interruption of system calls") and an idle worker exits; a busy one
// retries its reads and writes on EINTR, answers the request it holds, then exits: no
// accepted connection is dropped. A SIGTERM that lands between the check of the flag and
// the entry into accept(2) is seen after the next connection (or, in a pool, ends in its
// SIGKILL after the grace, with no connection accepted).
#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <forkctl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER 3

static const char response[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "Connection: close\r\n"
    "\r\n"
    "Hello, world\n";

static volatile sig_atomic_t stopping;

static void on_term(int signal) {
  (void)signal;
  stopping = 1;
}

// Reads until the blank line that ends the request's head (wrk sends no body), or end of
// file; 0 when the head came, -1 when it did not.
static int read_request(int fd) {
  char buffer[8192];
  size_t have = 0;
  while (have < sizeof buffer) {
    ssize_t n = read(fd, buffer + have, sizeof buffer - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    size_t from = have >= 3 ? have - 3 : 0;
    have += (size_t)n;
    for (size_t i = from; i + 4 <= have; i++)
      if (memcmp(buffer + i, "\r\n\r\n", 4) == 0) return 0;
  }
  return -1;
}

// Writes the response whole; MSG_NOSIGNAL, so that a client gone is an error, not SIGPIPE.
static void write_response(int fd) {
  size_t sent = 0, length = sizeof response - 1;
  while (sent < length) {
    ssize_t n = send(fd, response + sent, length - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += (size_t)n;
  }
}

int main(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_term;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: accept(2) must return EINTR
  if (sigaction(SIGTERM, &action, NULL) != 0) return perror("http-handler: sigaction"), 1;
  forkctl_notify("READY=1");
  while (!stopping) {
    int connection = accept4(LISTENER, NULL, NULL, SOCK_CLOEXEC);
    if (connection < 0) {
      // EINTR: SIGTERM, checked by the loop; ECONNABORTED and the like: the client left.
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("http-handler: accept on descriptor 3");
      return 1;
    }
    forkctl_notify("BUSY=1");
    if (read_request(connection) == 0) write_response(connection);
    close(connection);
    forkctl_notify("IDLE=1");
  }
  forkctl_notify("STOPPING=1");
  return 0;
}
