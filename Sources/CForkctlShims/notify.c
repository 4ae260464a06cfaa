// Notify sockets: the datagram sockets of pool workers' reports (forkctl(1), POOLS) and
// sd_notify(3)'s NOTIFY_SOCKET, on both sides: the daemon's end of a pool's abstract socket
// and the batched reading of it, and the client side a daemon under a service manager uses.
#define _GNU_SOURCE
#include "forkctl_shims.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int forkctl_notify_socket(const char *name, size_t len) {
  // SOCK_NONBLOCK: the daemon reads it from its event loop. SO_PASSCRED: each datagram
  // carries its sender's credentials, checked by the daemon, as any local user can send to
  // an abstract address (unix(7)).
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int on = 1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (len + 1 > sizeof(a.sun_path)) {
    close(fd);
    errno = ENAMETOOLONG;
    return -1;
  }
  // An abstract address: sun_path[0] is NUL, and the name's bytes follow, unterminated.
  memcpy(a.sun_path + 1, name, len);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 || bind(fd, (struct sockaddr *)&a, alen) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// sd_notify(3)'s NOTIFY_SOCKET: a path, or an abstract address when it begins with '@'.
static int notify_address(const char *address, size_t alen, struct sockaddr_un *a, socklen_t *size) {
  *a = (struct sockaddr_un){.sun_family = AF_UNIX};
  if (alen == 0 || alen > sizeof(a->sun_path)) {
    errno = EINVAL;
    return -1;
  }
  memcpy(a->sun_path, address, alen);
  if (address[0] == '@') a->sun_path[0] = '\0';
  *size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen + (address[0] == '@' ? 0 : 1));
  if (*size > sizeof(*a)) *size = sizeof(*a);
  return 0;
}

ssize_t forkctl_send_notify(const char *address, size_t alen, const void *buf, size_t len) {
  struct sockaddr_un a;
  socklen_t size;
  if (notify_address(address, alen, &a, &size) < 0) return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&a, size);
  } while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  errno = e;
  return n;
}

int forkctl_notify_connect(const char *address, size_t alen) {
  struct sockaddr_un a;
  socklen_t size;
  if (notify_address(address, alen, &a, &size) < 0) return -1;
  // Non-blocking: a service manager that does not read must never stall the daemon's loop.
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int r;
  do {
    r = connect(fd, (struct sockaddr *)&a, size);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int forkctl_recv_datagrams(int sock, unsigned char *buf, size_t slot, int max, size_t *lengths) {
  // recvmmsg(2): up to `max` datagrams in one system call, each in its own slot of `buf`.
  struct mmsghdr msgs[64];
  struct iovec iovs[64];
  if (max > 64) max = 64;
  for (int i = 0; i < max; i++) {
    iovs[i].iov_base = buf + (size_t)i * slot;
    iovs[i].iov_len = slot;
    memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = recvmmsg(sock, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
  for (int i = 0; i < n; i++) lengths[i] = msgs[i].msg_len;
  return n;
}

ssize_t forkctl_recv_credentials(int sock, void *buf, size_t len, uid_t *uid) {
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {0};
  union {
    char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * FORKCTL_CMSG_MAX_FDS)];
    struct cmsghdr align;
  } u;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof(u.buf);
  *uid = (uid_t)-1;
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      struct ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      *uid = cred.uid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      // Nobody sends descriptors to a notify socket: whatever came is closed unread.
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        close(fd);
      }
    }
  }
  return n;
}
