#ifndef FORKCTL_SHIMS_H
#define FORKCTL_SHIMS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// The most descriptors one recvmsg can carry on Linux (SCM_MAX_FD, include/net/scm.h).
/// The receive buffer is sized for this many so that a peer that sends more than our own
/// protocol limit still has every descriptor delivered to us, and closed, rather than
/// silently dropped by the kernel with MSG_CTRUNC.
#define FORKCTL_CMSG_MAX_FDS 253

/// sendmsg(2) with `nfds` descriptors as SCM_RIGHTS, MSG_NOSIGNAL so that a vanished peer
/// is EPIPE rather than SIGPIPE. Returns bytes sent or -1 with errno.
ssize_t forkctl_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                              int nonblocking);

/// recvmsg(2) with MSG_CMSG_CLOEXEC. Descriptors go to `fds` (room for `maxfds`); any beyond
/// that are closed here so that nothing received is ever lost open. `*nfds` gets how many were
/// stored, `*overflow` is set when descriptors had to be closed or the kernel truncated them.
ssize_t forkctl_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds,
                              int *overflow, int nonblocking);

/// A non-blocking datagram socket, close-on-exec, with SO_PASSCRED, bound to the abstract
/// address `name` (`len` bytes, without the leading NUL): a pool worker's NOTIFY_SOCKET.
int forkctl_notify_socket(const char *name, size_t len);

/// Sends one datagram to `address` (`alen` bytes, not NUL-terminated): a path, or with a
/// leading '@' an abstract address, as NOTIFY_SOCKET names one (sd_notify(3)).
ssize_t forkctl_send_notify(const char *address, size_t alen, const void *buf, size_t len);

/// A non-blocking, close-on-exec datagram socket connected to a NOTIFY_SOCKET address (as
/// forkctl_send_notify takes it): the daemon's own channel to its service manager.
int forkctl_notify_connect(const char *address, size_t alen);

/// recvmmsg(2) without blocking: up to `max` (at most 64) datagrams, the i-th in
/// `buf + i * slot` (cut to `slot` bytes) with its length in `lengths[i]`; how many came, or
/// -1 with errno (EAGAIN: none). Descriptors sent with them are dropped by the kernel.
int forkctl_recv_datagrams(int sock, unsigned char *buf, size_t slot, int max, size_t *lengths);

/// recvmsg of one datagram without blocking; `*uid` gets the sender's uid from its
/// SCM_CREDENTIALS, or (uid_t)-1 when none came. Descriptors sent along are closed.
ssize_t forkctl_recv_credentials(int sock, void *buf, size_t len, uid_t *uid);

/// clone(CLONE_PARENT | SIGCHLD): a fork whose child is a child of our parent (the daemon),
/// so the daemon reaps every worker itself and no template ever has to. Returns like fork().
/// glibc's fork handlers do not run (as with _Fork); see the comment in the source.
pid_t forkctl_clone_parent(void);

/// prctl(PR_SET_CHILD_SUBREAPER, 1).
int forkctl_set_child_subreaper(void);
/// prctl(PR_SET_NAME): the name (comm) of the calling thread, at most 15 bytes kept.
void forkctl_set_process_name(const char *name);
/// Whether process `pid`, whose close-on-exec descriptors have closed, exec'd since it last
/// named itself with a '/' in its name (/proc/PID/stat): 1 when its name has no '/' or it
/// neither exits nor has exited (it is in execve), 0 when it exits or has exited under that
/// name, -1 when /proc cannot tell.
int forkctl_has_executed(pid_t pid);
/// Whether a process other than `group` itself is in process group `group` (/proc/PID/stat):
/// 1 or 0; -1 when /proc cannot be read.
int forkctl_group_has_other_members(pid_t group);
/// Whether the peer of stream socket `fd` has closed it (POLLRDHUP or POLLHUP, at once) and
/// nothing is left to read: 1 or 0.
int forkctl_peer_gone_unread(int fd);
/// waitid(2) with WEXITED | WNOHANG | WNOWAIT for child `pid` (0: any child): the pid of an
/// exited child, left unreaped, and its status as waitpid encodes it in `wstatus`; 0 when
/// none has exited; -1 with errno (ECHILD: no such child).
pid_t forkctl_exited_child(pid_t pid, int *wstatus);

/// fcntl(F_SETFD, FD_CLOEXEC).
void forkctl_set_cloexec(int fd);

/// fcntl(F_SETFL, O_NONBLOCK) on or off. Returns 0 or -1.
int forkctl_set_nonblocking(int fd, int on);

/// fcntl(F_GETFD): -1 with errno EBADF when `fd` is not open.
int forkctl_fd_flags(int fd);

/// Number of threads of the calling process, from /proc/self/stat (field 20), or -1.
int forkctl_thread_count(void);

/// Wait-status macros, which do not import into Swift.
int forkctl_wifexited(int status);
int forkctl_wexitstatus(int status);
int forkctl_wifsignaled(int status);
int forkctl_wtermsig(int status);
int forkctl_wcoredump(int status);

/// One descriptor to place in a worker: `src` (any number) ends up on `target`.
struct forkctl_fd_move {
  int src;
  int target;
};

/// One resource limit for a worker (setrlimit(2)); RLIM_INFINITY is all ones.
struct forkctl_rlimit {
  int resource;
  uint64_t soft;
  uint64_t hard;
};

/// forkctl_attributes.flags: prctl(PR_SET_NO_NEW_PRIVS).
#define FORKCTL_ATTR_NO_NEW_PRIVS 1u
/// forkctl_attributes.flags: setsid(2) instead of setpgid, and the terminal on descriptor 0
/// made the controlling terminal (TIOCSCTTY, tty_ioctl(4)).
#define FORKCTL_ATTR_NEW_SESSION_TTY 2u
/// forkctl_attributes.flags: every capability set limited to its mask (capabilities(7)).
#define FORKCTL_ATTR_DROP_CAPABILITIES 4u

/// The caller's process attributes, applied in the worker before exec (ProcessAttributes in
/// ForkctlWire; forkctl-protocol(7), PROCESS ATTRIBUTES). Signal sets: bit n-1 for signal n.
/// Capability masks: bit n for capability n.
struct forkctl_attributes {
  uint32_t umask;
  int32_t nice;
  uint64_t ignored_signals;
  uint64_t blocked_signals;
  const struct forkctl_rlimit *limits;
  int nlimits;
  uint32_t flags;
  uint64_t cap_bounding, cap_permitted, cap_effective, cap_inheritable, cap_ambient;
};

/// What the exec path returns when it fails: the step that failed in the high 16 bits, the
/// errno in the low 16 (ExecFailure in ForkctlWire, forkctl-protocol(7) REPORTS). Step 0 is
/// the exec itself (and the descriptors), so a bare errno reads as an exec failure; step 1,
/// the working directory, keeps the 0x10000 plus errno that a failed fchdir always reported.
#define FORKCTL_FAILURE(step, err) ((int)(((unsigned)(step) << 16) | (unsigned)(err)))
#define FORKCTL_FAILURE_STEP(failure) ((int)((unsigned)(failure) >> 16))
#define FORKCTL_FAILURE_ERRNO(failure) ((int)((unsigned)(failure) & 0xffffu))
#define FORKCTL_STEP_EXEC 0
#define FORKCTL_STEP_WORKING_DIRECTORY 1
#define FORKCTL_STEP_SESSION 2
#define FORKCTL_STEP_CONTROLLING_TERMINAL 3
#define FORKCTL_STEP_NICE 4
#define FORKCTL_STEP_NO_NEW_PRIVS 5
#define FORKCTL_STEP_CAPABILITIES 6
#define FORKCTL_STEP_SIGNALS 7
/// Plus the resource number: setrlimit of that resource failed.
#define FORKCTL_STEP_RLIMIT 0x100

/// The worker's exec path. Makes the process hold exactly the descriptors in `moves` (on
/// their targets, close-on-exec cleared), /dev/null on any of 0, 1, 2 not among the targets,
/// changes to `cwd_fd` when it is >= 0, and executes `file` searching `path` (a PATH value,
/// NULL for the execvp(3) default) as execvp does: names with a '/' are used as they are,
/// EACCES is remembered while the search goes on, ENOEXEC runs /bin/sh.
///
/// Before exec it applies `attributes`, in this order: a process group of its own (setpgid)
/// or, with FORKCTL_ATTR_NEW_SESSION_TTY, a new session with descriptor 0 as controlling
/// terminal; the resource limits; the nice value; the umask; no_new_privs; the capability
/// masks; every signal action reset to SIG_DFL, then SIG_IGN for the ignored set; the signal
/// mask. A hard limit or nice value this process may not give is lowered to its own
/// (setrlimit's EPERM, setpriority's EACCES). NULL: a process group of its own, default
/// actions and an empty mask.
///
/// `keep` lists `nkeep` descriptors the caller still needs if the exec fails (they are moved
/// above every target, stay close-on-exec, and their new numbers are written back).
/// Returns only on failure, with FORKCTL_FAILURE(step, errno): EISDIR for a program path
/// that names a directory, FORKCTL_STEP_WORKING_DIRECTORY when changing to `cwd_fd` failed.
int forkctl_exec_worker(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd,
                        const char *file, char *const argv[], char *const envp[],
                        const char *path, int *keep, int nkeep,
                        const struct forkctl_attributes *attributes);

/// The signals whose action is SIG_IGN in this process, bit n-1 for signal n (1 to 64).
uint64_t forkctl_ignored_signals(void);

/// The calling thread's signal mask, bit n-1 for signal n.
uint64_t forkctl_blocked_signals(void);

/// getrlimit(2) of `resource`. Returns 0 or -1 with errno.
int forkctl_get_rlimit(int resource, uint64_t *soft, uint64_t *hard);

/// setrlimit(2) of `resource`. Returns 0 or -1 with errno.
int forkctl_set_rlimit(int resource, uint64_t soft, uint64_t hard);

/// getpriority(PRIO_PROCESS, 0): this process's nice value. Returns 0 or -1 with errno.
int forkctl_get_nice(int *nice);

/// Marks every open descriptor numbered `low` or more close-on-exec: what
/// close_range(low, ~0U, CLOSE_RANGE_CLOEXEC) does on Linux 5.11 and later. It lists
/// /proc/self/fd, or, without /proc, tries every number below RLIMIT_NOFILE (at most 65536).
/// Async-signal-safe.
void forkctl_mark_cloexec_from(int low);

#define FORKCTL_SPAWN_NEW_SESSION 1
#define FORKCTL_SPAWN_NEW_GROUP 2

/// posix_spawn of a helper with `fd_count` descriptors from `fds` placed on 0..fd_count-1
/// (-1 means /dev/null), nothing else inherited, an empty signal mask and default signal
/// actions. `detach` 1 (FORKCTL_SPAWN_NEW_SESSION) starts a new session, 2
/// (FORKCTL_SPAWN_NEW_GROUP) a new process group in the caller's session. Returns 0 and
/// the pid, or an errno.
int forkctl_posix_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                  int fd_count, int detach, pid_t *pid);

/// Blocks `sigs` (a 0-terminated list) in the calling thread, for signalfd. Returns 0 or -1.
int forkctl_block_signals(const int *sigs);

/// signalfd for a 0-terminated list of signals, non-blocking and close-on-exec.
int forkctl_signalfd(const int *sigs);

/// Reads one signalfd_siginfo and returns its signal number, 0 when none is pending, -1 on error.
int forkctl_read_signalfd(int fd);

/// Restores the default action of `sig`, unblocks it and raises it on the calling process.
void forkctl_reraise(int sig);

/// dup3(fd, target, O_CLOEXEC).
int forkctl_dup3_cloexec(int fd, int target);

/// pipe2(O_CLOEXEC).
int forkctl_pipe(int fds[2]);

/// open(".", O_PATH | O_DIRECTORY | O_CLOEXEC).
int forkctl_open_current_directory(void);

/// accept4(SOCK_CLOEXEC | SOCK_NONBLOCK).
int forkctl_accept(int listener);

/// getsockopt(SO_PEERCRED). Returns 0 or -1.
int forkctl_peer_credentials(int sock, pid_t *pid, uid_t *uid, gid_t *gid);

/// getsockopt(SO_PEERPIDFD, Linux 6.5): a close-on-exec pidfd of the process that connected;
/// -1 with errno (ENOPROTOOPT on older kernels).
int forkctl_peer_pidfd(int sock);

/// pidfd_send_signal(2) with no siginfo: 0, or -1 with errno (ESRCH once it has exited).
int forkctl_pidfd_send_signal(int pidfd, int sig);

/// Sets SIGPIPE to be ignored (for the client: a vanished daemon is EPIPE).
void forkctl_ignore_sigpipe(void);

/// epoll, wrapped because struct epoll_event is packed on x86-64 and does not import well.
#define FORKCTL_EPOLLIN 0x001u
#define FORKCTL_EPOLLOUT 0x004u
#define FORKCTL_EPOLLERR 0x008u
#define FORKCTL_EPOLLHUP 0x010u
#define FORKCTL_EPOLLRDHUP 0x2000u
#define FORKCTL_EPOLLONESHOT 0x40000000u
#define FORKCTL_EPOLL_CTL_ADD 1
#define FORKCTL_EPOLL_CTL_DEL 2
#define FORKCTL_EPOLL_CTL_MOD 3
int forkctl_epoll_create(void);
int forkctl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
int forkctl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);

/// poll(2)'s POLLRDHUP, which glibc's <poll.h> declares only under _GNU_SOURCE.
#define FORKCTL_POLLRDHUP 0x2000

/// pidfd_open(2): a close-on-exec descriptor for process `pid`; -1 with errno (ENOSYS on
/// kernels before 5.3).
int forkctl_pidfd_open(pid_t pid);

/// memfd_create(2) with MFD_CLOEXEC | MFD_ALLOW_SEALING: a new anonymous file named `name`;
/// -1 with errno.
int forkctl_memfd_create(const char *name);

/// fcntl(F_ADD_SEALS) with every seal that makes a file read-only for good: write, grow,
/// shrink, and no seal changed after (memfd_create(2), "File sealing"). 0, or -1 with errno.
int forkctl_seal_read_only(int fd);

/// environ, which is NULL in a process started with an empty environment (Swift's Glibc
/// overlay traps reading it then).
char **forkctl_environ(void);

/// What posix_spawn does, for a template: clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT) (the
/// child shares the template's memory and runs only async-signal-safe C until it execs, so no
/// page table is copied), then forkctl_exec_worker in the child; with
/// FORKCTL_ATTR_NEW_SESSION_TTY a plain fork instead, which lives on as the program's monitor
/// (forkctl_monitor_start). The new process is a child of the template's parent, the daemon.
/// Before anything else the child sends on `announce_fd` (unless -1) the
/// `announcement_size` bytes of `announcement` (at most 64), its pid written little-endian
/// over the 4 bytes at `pid_offset`. Returns its pid with *failure 0 once it has exec'd, or
/// with the FORKCTL_FAILURE of the failed exec path (the child has then exited 127 or 126);
/// -1 with errno when clone (or mmap) fails.
pid_t forkctl_vfork_sibling(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, const char *file,
                            char *const argv[], char *const envp[], const char *path, int *keep, int nkeep,
                            const struct forkctl_attributes *attributes, int announce_fd,
                            const unsigned char *announcement, int announcement_size, int pid_offset,
                            int *failure);

/// A pseudo-terminal (pty(7)): master and slave, both close-on-exec and neither made the
/// controlling terminal of the caller. Returns 0 or -1 with errno.
int forkctl_open_pty(int *master, int *slave);

/// ioctl(TIOCGWINSZ) and ioctl(TIOCSWINSZ), with the window size as rows, columns, x pixels,
/// y pixels. Return 0 or -1 with errno.
int forkctl_get_window_size(int fd, unsigned short size[4]);
int forkctl_set_window_size(int fd, const unsigned short size[4]);

/// Stops the calling process with `sig` (SIGTSTP, SIGTTIN, SIGTTOU) taking its default action
/// even while it is blocked for a signalfd, so that a shell reports the job stopped by it;
/// returns once continued, with the signal blocked again.
void forkctl_stop_self(int sig);

/// stat(2)'s st_rdev of `path` (which device a device file is). Returns 0 or -1 with errno.
int forkctl_device_number(const char *path, uint64_t *device);

/// The system call number of read(2) (SYS_read), as /proc/PID/syscall shows it.
long forkctl_read_syscall_number(void);

/// With FORKCTL_ATTR_NEW_SESSION_TTY, in the session leader that holds the terminal on 0:
/// forks; the parent becomes the program's monitor (monitor.c) and never returns, ending with
/// the program's status; the child, the program, returns 0 in a process group of its own in
/// the terminal's foreground, with SIGKILL as its parent-death signal, or an errno value.
/// Every signal must be blocked. `glibc_fork` 1: the child is made by glibc's fork() (for a
/// function of a loaded library, forkctl_prepare_call); 0: by a raw clone (before an exec).
int forkctl_monitor_start(int glibc_fork);

/// Records the action of every signal, 1 to 64, the first time it is called (later calls do
/// nothing): what this process itself set up before it loaded any library.
/// forkctl_prepare_call resets to SIG_DFL only the actions still as recorded here.
void forkctl_record_signal_actions(void);

/// glibc's fork(), called from a clone(CLONE_VM | CLONE_VFORK) helper that then exits: the
/// new process is a real glibc fork of the caller (atfork handlers, its own thread id in
/// glibc's thread descriptor, robust mutex list reset) whose parent, once this returns in
/// either process, is the nearest child subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)) or init.
/// Returns 0 in the new process, on the caller's own stack with the caller's signal mask; the
/// new pid in the caller, once the helper is reaped; -1 with errno when clone or fork failed.
/// The atfork prepare and parent handlers run in the helper, which shares the caller's memory
/// while the caller is suspended: a parent handler that starts a thread starts it in the
/// helper, which then exits.
pid_t forkctl_fork_adopted(void);

/// What forkctl_exec_worker does before execve, for a worker that calls a function of a
/// library loaded in this process instead: `moves` placed (sources and `close_fds` lifted
/// first, so that any of them may be a target; close-on-exec cleared on the targets), /dev/null
/// on any of 0, 1, 2 not among the targets, `cwd_fd` (>= 0) made the working directory, signal
/// actions this process set before its first library was loaded reset to SIG_DFL
/// (forkctl_record_signal_actions; a library's own handlers stay), `attributes` applied as
/// forkctl_exec_worker applies them (a signal the caller ignores is ignored only where no
/// library handles it), the mask last, as the caller's (empty for NULL). No descriptor other
/// than targets and `close_fds` is touched. Then `environ` becomes `envp` (not copied: it must
/// live as long as the process, and the old one is left as it is, as a library may hold its
/// strings), the process is named `name` (PR_SET_NAME), and the `nclose` descriptors of
/// `close_fds` are closed. Returns 0; or FORKCTL_FAILURE(step, errno) as forkctl_exec_worker
/// does, with `close_fds` still open on the new numbers written back to it, and every signal
/// blocked.
int forkctl_prepare_call(const struct forkctl_fd_move *moves, int nmoves, int cwd_fd, int *close_fds, int nclose,
                         char **envp, const struct forkctl_attributes *attributes, const char *name);

/// Whether the dynamic loader started this process (getauxval(AT_BASE) is its address, 0 in
/// a statically linked program): only then can it load code without a second C library.
int forkctl_has_dynamic_loader(void);

#endif
