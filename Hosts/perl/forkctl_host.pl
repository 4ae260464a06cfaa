# forkctl_host.pl: the Perl host of forkctl (issue 14). The daemon starts it as
# `perl /proc/self/fd/4 ID` with its control socket on descriptor 3, and it speaks the template
# side of forkctl-protocol(7) there, as Sources/ForkctlTemplate/Template.swift and Library.swift
# do: it keeps the descriptors and strings sent to it, requires modules and evaluates code once
# (AnyEvent::Fork's require and eval), forks workers with Perl's own fork (so that glibc's
# atfork handlers and Perl's run), and runs a program or calls "Module::function" in them
# (AnyEvent::Fork's run). Its workers are its own children: it reports each one's pid with a
# pidfd (report hostChild) and its status (report childEnded) before it reaps it, so the daemon
# never loses a status (Man/forkctl-protocol.7, WRITING A HOST).
#
# One file, core Perl plus Socket::MsgHdr (sendmsg/recvmsg with SCM_RIGHTS: core Socket has
# neither). System calls that core POSIX lacks go through syscall() with the numbers of Linux
# x86_64 (asm/unistd_64.h); the host refuses to start on another architecture.

# First, before `use strict` and any lexical of this file: code sent with `eval` runs in
# package main and sees none of the host's variables (AnyEvent::Fork::Serve's eval does the same).
sub Forkctl::Host::Server::evaluate_in_main {
  local $Forkctl::Host::Server::code = "#line 1 \"forkctl eval\"\n$_[0]\n;1";
  local @ARGV = @{ $_[1] };
  @_ = @ARGV;
  package main;
  eval $Forkctl::Host::Server::code;
}

# A worker that calls `exit` ends as the host ends a call (finish: its own END blocks, a flush,
# _exit), not through perl's exit, which would also run the template's END blocks and
# destructors in every worker. Only code compiled after this sees the override: every module
# the host loads is.
BEGIN {
  *CORE::GLOBAL::exit = sub (;$) {
    my $status = @_ ? $_[0] : 0;
    Forkctl::Host::Server::finish($status) if $Forkctl::Host::Server::calling;
    CORE::exit($status);
  };
}

package Forkctl::Host::Server;

use strict;
use warnings;
use B ();
use Errno ();        # %! loads it on first use: here, not after a fork (the import audit)
use POSIX ();
use Scalar::Util ();
use Socket ();
use Socket::MsgHdr ();

# Linux x86_64 system call numbers (asm/unistd_64.h).
use constant {
  SYS_CLOSE => 3, SYS_RT_SIGACTION => 13, SYS_RT_SIGPROCMASK => 14, SYS_EXECVE => 59, SYS_FCNTL => 72,
  SYS_FCHDIR => 81, SYS_CAPGET => 125, SYS_CAPSET => 126, SYS_PRCTL => 157, SYS_WAITID => 247,
  SYS_PRLIMIT64 => 302, SYS_RT_SIGTIMEDWAIT => 128, SYS_MEMFD_CREATE => 319, SYS_PIDFD_OPEN => 434,
  SYS_CLOSE_RANGE => 436,
};
use constant {
  F_SETFD => 2, FD_CLOEXEC => 1, F_DUPFD_CLOEXEC => 1030, O_RDWR => 2, O_CLOEXEC => 0x80000,
  MSG_NOSIGNAL => 0x4000, MSG_CMSG_CLOEXEC => 0x40000000, MSG_CTRUNC => 0x8, MFD_CLOEXEC => 1,
  P_PID => 1, WNOHANG => 1, WEXITED => 4, WNOWAIT => 0x01000000, CLOSE_RANGE_CLOEXEC => 4,
  PR_SET_PDEATHSIG => 1, PR_SET_DUMPABLE => 4, RLIMIT_CORE => 4, SIG_UNBLOCK => 1, PR_SET_NAME => 15,
  PR_CAPBSET_READ => 23, PR_CAPBSET_DROP => 24, PR_GET_SECUREBITS => 27,
  PR_SET_SECUREBITS => 28, PR_SET_NO_NEW_PRIVS => 38, PR_CAP_AMBIENT => 47, PR_CAP_AMBIENT_IS_SET => 1,
  PR_CAP_AMBIENT_LOWER => 3, SECBIT_NOROOT => 1, TIOCSCTTY => 0x540E, SIG_DFL => 0, SIG_IGN => 1,
  SIG_SETMASK => 2, ENOENT => 2, EACCES => 13, ENOTDIR => 20, EISDIR => 21, ENOEXEC => 8, EPERM => 1,
  ESTALE => 116, ENODEV => 19, ETIMEDOUT => 110, ELOOP => 40, ENAMETOOLONG => 36, ECHILD => 10,
};

# Frame types (Man/forkctl-protocol.7): the commands this host reads, the reports it sends.
use constant {
  C_FORK => 0x80, C_FDS => 0x81, C_ARGS => 0x82, C_RUN => 0x83, C_SPAWN => 0x84, C_LOAD => 0x85,
  C_EVAL => 0x86, R_FORKED => 0xc0, R_REFUSED => 0xc1, R_EXEC_FAILED => 0xc2, R_SPAWNED => 0xc3,
  R_SPAWNING => 0xc4, R_LOADED => 0xc5, R_LOAD_REFUSED => 0xc6, R_HOST_CHILD => 0xc7, R_CHILD_ENDED => 0xc8,
  R_HOST_READY => 0xc9,
};
# Error codes of the refused and load-refused reports.
use constant {
  E_WRONG_STATE => 2, E_TEMPLATE_FAILED => 5, E_WORKING_DIRECTORY => 14, E_LOAD_FAILED => 16,
  E_SYMBOL_NOT_FOUND => 17,
};
# The step of a failure (its high 16 bits), as Template.failRun reports it.
use constant {
  STEP_EXEC => 0, STEP_WORKING_DIRECTORY => 1, STEP_SESSION => 2, STEP_CONTROLLING_TERMINAL => 3,
  STEP_NICE => 4, STEP_NO_NEW_PRIVS => 5, STEP_CAPABILITIES => 6, STEP_SIGNALS => 7, STEP_SYMBOL => 8,
  STEP_RLIMIT => 256,
};
use constant {
  CONTROL_FD => 3, MAX_FDS => 64, MAX_PAYLOAD => 4194304, MAX_LIST => 65536, MAX_TARGET => 1023,
  PROCESS_NAME => 'forkctl/object', THREAD_GRACE_STEPS => 50,    # 100 ms in steps of 2
  RUN_KEEP_CONTROL => 1, RUN_DIRECTORY => 2, RUN_ENVIRONMENT => 4, RUN_WAIT => 8, RUN_STATUS_PIPE => 16,
  RUN_ATTRIBUTES => 32, RUN_CALL => 128, RUN_QUICK_EXIT => 256, LOAD_GLOBAL => 1, LOAD_DIRECTORY => 2,
  ATTR_NO_NEW_PRIVS => 1, ATTR_NEW_SESSION => 2, ATTR_DROP_CAPABILITIES => 4,
};

our $calling = 0;      # set in a worker while its function runs: `exit` then ends it (finish)
our $quick_exit = 0;   # the call's run spec had flag 256: _exit without END blocks or a flush
our $ends_before = 0;  # END blocks the process had when the call began: the template's
my $id = $ARGV[0] // '?';
my $template_pid = $$;
my $control;           # a handle on descriptor 3
my @fds;               # [descriptor, target or undef], in the order sent
my @strings;           # the strings sent with send-arg
my %children;          # pid => pidfd of each child announced with hostChild and not yet reaped
my $imports;           # the forkctl-imports memfd of a process forked from another, once needed
my %initial_actions;   # signal => its action at start (a 32-byte kernel struct), when not SIG_DFL

# ---- codec: pure packing and unpacking, as ForkctlWire does ---------------------------------

sub frame { pack('CCvV', 1, $_[0], $_[2] // 0, length $_[1]) . $_[1] }
sub string { pack('V/a*', $_[0]) }
sub list { pack('V', scalar @_) . join('', map { pack('V/a*', $_) } @_) }
sub status_bytes {    # a waitid si_code (1 exited, 2 killed, 3 dumped) is the wire's tag
  my ($code, $value) = @_;
  pack('Cl<', $code, $value);
}

# A payload being read: [bytes, offset]. Any short field or bad value is a violation (exit 70).
sub need { violation('short payload') if $_[0][1] + $_[1] > length $_[0][0] }
sub u16 { need($_[0], 2); my $v = unpack('v', substr($_[0][0], $_[0][1], 2)); $_[0][1] += 2; $v }
sub u32 { need($_[0], 4); my $v = unpack('V', substr($_[0][0], $_[0][1], 4)); $_[0][1] += 4; $v }
sub i32 { need($_[0], 4); my $v = unpack('l<', substr($_[0][0], $_[0][1], 4)); $_[0][1] += 4; $v }
sub u64 { need($_[0], 8); my $v = unpack('Q<', substr($_[0][0], $_[0][1], 8)); $_[0][1] += 8; $v }
sub str {
  my $n = u32($_[0]);
  need($_[0], $n);
  my $s = substr($_[0][0], $_[0][1], $n);
  $_[0][1] += $n;
  $s;
}
sub strings {
  my $n = u32($_[0]);
  violation('list too long') if $n > MAX_LIST;
  map { str($_[0]) } 1 .. $n;
}
sub finished { violation('payload longer than its fields') if $_[0][1] != length $_[0][0] }
sub no_nul { violation("$_[1] holds a NUL byte") if index($_[0], "\0") >= 0 }
sub targets {
  my $n = u32($_[0]);
  violation('too many targets') if $n > MAX_FDS;
  map {
    my $t = i32($_[0]);
    violation("descriptor target $t") if $t < -1 || $t > MAX_TARGET;
    $t == -1 ? undef : $t;
  } 1 .. $n;
}

# Run spec: u32 flags, program, arguments, environment (flag 4). `$outer`: bits of the message
# around the spec allowed here. Returns the spec as a hash and the outer bits found.
sub run_spec {
  my ($r, $outer) = @_;
  my $flags = u32($r);
  my $own = RUN_KEEP_CONTROL | RUN_DIRECTORY | RUN_ENVIRONMENT | RUN_WAIT | RUN_CALL | RUN_QUICK_EXIT;
  violation("run flags $flags") if $flags & ~($own | $outer);
  violation('quick exit without call') if $flags & RUN_QUICK_EXIT && !($flags & RUN_CALL);
  my %s = (flags => $flags, program => str($r));
  violation('empty program name') if $s{program} eq '';
  no_nul($s{program}, 'program name');
  $s{arguments} = [strings($r)];
  no_nul($_, 'argument') for @{ $s{arguments} };
  if ($flags & RUN_ENVIRONMENT) {
    $s{environment} = [strings($r)];
    for (@{ $s{environment} }) { violation('environment string') if /\0/ || !/=/ }
  }
  (\%s, $flags & $outer);
}

# Process attributes (forkctl-protocol(7), Process attributes), checked as ProcessAttributes.read.
sub attributes {
  my ($r) = @_;
  my %a = (umask => u32($r), nice => i32($r), ignored => u64($r), blocked => u64($r));
  violation('umask') if $a{umask} & ~0777;
  violation('nice value') if $a{nice} < -20 || $a{nice} > 19;
  violation('SIGKILL or SIGSTOP') if ($a{ignored} | $a{blocked}) & (1 << 8 | 1 << 18);
  my $n = u32($r);
  my %seen;
  $a{limits} = [
    map {
      my @l = (u32($r), u64($r), u64($r));
      violation("resource $l[0]") if $l[0] >= 16 || $seen{ $l[0] }++ || $l[1] > $l[2];
      \@l;
    } 1 .. $n
  ];
  $a{flags} = u32($r);
  violation('attribute flags') if $a{flags} & ~(ATTR_NO_NEW_PRIVS | ATTR_NEW_SESSION | ATTR_DROP_CAPABILITIES);
  @a{qw(bounding permitted effective inheritable ambient)} = map { u64($r) } 1 .. 5;
  violation('capability masks') if !($a{flags} & ATTR_DROP_CAPABILITIES)
    && grep { $a{$_} } qw(bounding permitted effective inheritable ambient);
  \%a;
}

# ---- the control socket ------------------------------------------------------------------------

sub violation {
  # A broken frame: the daemon's bug or another peer's; this process ends, as the native
  # template does (70, EX_SOFTWARE).
  POSIX::_exit(70);
}

# Sends a frame on `$fd` (the control socket unless named), with descriptors as one SCM_RIGHTS
# message on the first sendmsg. MSG_NOSIGNAL: a daemon that is gone must not kill the host
# with SIGPIPE; its end of file is read next.
sub send_frame {
  my ($bytes, $descriptors, $fd) = @_;
  my $handle = $control;
  if (defined $fd && $fd != CONTROL_FD) {
    open($handle, '+<&=', $fd) or return;
  }
  my $message = Socket::MsgHdr->new(buf => $bytes);
  $message->cmsghdr(Socket::SOL_SOCKET(), Socket::SCM_RIGHTS(), pack('i*', @$descriptors)) if $descriptors;
  while (length $bytes) {
    my $n = Socket::MsgHdr::sendmsg($handle, $message, MSG_NOSIGNAL);
    if (!defined $n) {
      next if $!{EINTR};
      return;
    }
    substr($bytes, 0, $n, '');
    $message = Socket::MsgHdr->new(buf => $bytes);
  }
}

# A frame without descriptors: one send(2), which makes far fewer objects than a MsgHdr's
# sendmsg, so a worker writes fewer of the template's pages (each a copy on write).
sub report {
  my $bytes = frame($_[0], $_[1] // '', 0);
  while (length $bytes) {
    my $n = send($control, $bytes, MSG_NOSIGNAL);
    if (!defined $n) {
      next if $!{EINTR};
      return;
    }
    substr($bytes, 0, $n, '');
  }
}
sub refuse { report(R_REFUSED, pack('v', $_[0]) . string($_[1])) }
sub refuse_load { report(R_LOAD_REFUSED, pack('v', $_[0]) . string($_[1])) }

# Reads `$want` bytes of one frame, collecting the descriptors that come with them. Never more
# than remain in the frame (forkctl-protocol(7), DESCRIPTORS). End of file or an error before
# a frame begins ends the host (0); in the middle of one it is a violation.
sub receive_bytes {
  my ($want, $received, $begun) = @_;
  my $bytes = '';
  while (length $bytes < $want) {
    my $message = Socket::MsgHdr->new(buflen => $want - length $bytes, controllen => 16 + 4 * MAX_FDS);
    my $n = Socket::MsgHdr::recvmsg($control, $message, MSG_CMSG_CLOEXEC);
    if (!defined $n) {
      next if $!{EINTR};
      POSIX::_exit(0) unless $begun || length $bytes;
      violation('read');
    }
    if ($n == 0) {
      POSIX::_exit(0) unless $begun || length $bytes;
      violation('end of file inside a frame');
    }
    my @cmsg = $message->cmsghdr;
    while (my ($level, $type, $data) = splice(@cmsg, 0, 3)) {
      push @$received, unpack('i*', $data) if $level == Socket::SOL_SOCKET() && $type == Socket::SCM_RIGHTS();
    }
    violation('descriptors truncated') if $message->flags & MSG_CTRUNC || @$received > MAX_FDS;
    $bytes .= $message->buf;
  }
  $bytes;
}

# One frame: (type, payload, descriptors).
sub receive_frame {
  my @received;
  my ($version, $type, $count, $length) = unpack('CCvV', receive_bytes(8, \@received, 0));
  violation('version') if $version != 1;
  violation('descriptor count') if $count > MAX_FDS;
  violation('payload length') if $length > MAX_PAYLOAD;
  my $payload = $length ? receive_bytes($length, \@received, 1) : '';
  if (@received != $count) {
    POSIX::close($_) for @received;
    violation('descriptor count differs');
  }
  ($type, $payload, \@received);
}

# ---- system calls core POSIX lacks ---------------------------------------------------------------

sub sys { my $r = syscall(shift, @_); $r < 0 ? undef : $r }
sub set_name { my $name = substr($_[0], 0, 15); sys(SYS_PRCTL, PR_SET_NAME, $name, 0, 0, 0) }
sub fchdir { sys(SYS_FCHDIR, 0 + $_[0]) }
sub cloexec { sys(SYS_FCNTL, 0 + $_[0], F_SETFD, FD_CLOEXEC) }
sub lift { sys(SYS_FCNTL, 0 + $_[0], F_DUPFD_CLOEXEC, 0 + $_[1]) }
sub set_mask { my $set = pack('Q', $_[0]); sys(SYS_RT_SIGPROCMASK, SIG_SETMASK, $set, 0, 8) }
# The kernel's struct sigaction on x86_64: handler, flags, restorer, mask (asm/signal.h).
sub get_action { my $old = "\0" x 32; defined sys(SYS_RT_SIGACTION, 0 + $_[0], 0, $old, 8) ? $old : undef }
sub set_action { my $new = pack('QQQQ', $_[1], 0, 0, 0); sys(SYS_RT_SIGACTION, 0 + $_[0], $new, 0, 8) }
sub handler_of { unpack('Q', $_[0]) }

# ---- threads -------------------------------------------------------------------------------------

# The names of this process's threads (/proc/self/task/*/comm), the main thread first.
sub thread_names {
  opendir(my $dir, '/proc/self/task') or return ();
  my @tids = sort { ($a != $$) <=> ($b != $$) || $a <=> $b } grep { /^\d+$/ } readdir $dir;
  my @names;
  for my $tid (@tids) {
    # A thread that ended since the listing has no comm to read: it is not counted.
    open(my $f, '<', "/proc/self/task/$tid/comm") or next;
    my $name = <$f>;
    next unless defined $name;
    chomp $name;
    push @names, $name;
  }
  @names;
}

# Field 20 of /proc/self/stat (proc(5)): one read, where the names take a file per thread.
sub thread_count {
  sysopen(my $f, '/proc/self/stat', 0) or return 0;
  sysread($f, my $stat, 1024);
  my @fields = split / /, substr($stat, rindex($stat, ')') + 2);
  $fields[17] // 0;
}

# fork(2) in a process with more than one thread copies only the caller, and a lock another
# thread held stays held for ever in the child: refuses unless this process has one thread, as
# Template.singleThreaded does, giving threads that are exiting a short grace.
sub single_threaded {
  my ($action) = @_;
  return 1 if thread_count() == 1;
  my @names = thread_names();
  for (1 .. THREAD_GRACE_STEPS) {
    last if @names <= 1;
    select(undef, undef, undef, 0.002);
    @names = thread_names();
  }
  return 1 if @names <= 1;
  refuse(E_TEMPLATE_FAILED,
    "process $$ has " . scalar(@names) . ' threads (' . join(', ', @names) . "); $action it is unsafe");
  0;
}

# ---- children: announced with a pidfd, reported when they end, then reaped ----------------------

# Opens a pidfd of a child just forked (before anything here could reap it) and keeps it.
sub adopt {
  my ($pid) = @_;
  my $pidfd = sys(SYS_PIDFD_OPEN, 0 + $pid, 0);
  return undef unless defined $pidfd;
  $children{$pid} = $pidfd;
  $pidfd;
}

sub announce { send_frame(frame(R_HOST_CHILD, pack('l<', $_[0]), 1), [ $children{ $_[0] } ]) }

# A child's pidfd is readable: its status is read without reaping it (waitid WNOWAIT), sent,
# and only then reaped, so a host killed in between leaves a zombie the daemon, the subreaper
# it goes to, reaps with the same status (hosts14.md, childEnded).
sub reap {
  my ($pid) = @_;
  my $info = "\0" x 128;
  return unless defined sys(SYS_WAITID, P_PID, 0 + $pid, $info, WEXITED | WNOHANG | WNOWAIT, 0);
  my (undef, undef, $code, undef, $who, undef, $value) = unpack('l l l l l L l', $info);
  return unless $who == $pid;    # not ended yet
  report(R_CHILD_ENDED, pack('l<', $pid) . status_bytes($code, $value));
  waitpid($pid, 0);
  POSIX::close(delete $children{$pid});
}

# In a new process: the children, their pidfds, and the records of the process it was forked
# from are not its own.
sub forget_inheritance {
  POSIX::close($_) for values %children;
  %children = ();
  if (defined $imports) {
    POSIX::close($imports);
    undef $imports;
  }
}

# ---- modules required after the fork (seed 004) ---------------------------------------------------

# Kept first in @INC: perl asks it for every file not yet loaded. In a process forked from the
# template it appends the module's name to the forkctl-imports memfd, which the daemon reads
# for `audit`, and lets the search go on.
my $import_hook = sub {
  my (undef, $file) = @_;
  return if $$ == $template_pid;
  record_import($file);
  return;
};

sub record_import {
  my ($file) = @_;
  my $name = $file;
  $name =~ s{/}{::}g if $name =~ s{\.pm\z}{};
  if (!defined $imports) {
    my $memfd_name = 'forkctl-imports';
    $imports = sys(SYS_MEMFD_CREATE, $memfd_name, MFD_CLOEXEC);
    return unless defined $imports;
  }
  $name =~ tr/\n/ /;
  POSIX::write($imports, "$name\n", length($name) + 1);
}

sub keep_import_hook_first {
  return if ref $INC[0] && $INC[0] == $import_hook;
  @INC = ($import_hook, grep { !(ref $_ && $_ == $import_hook) } @INC);
}

# ---- descriptors, attributes, and the program or function ------------------------------------------

# Fixed targets first; every other descriptor takes the lowest number nobody else has, in the
# order it was sent (Template.placements).
sub placements {
  my %fixed = map { defined $_->[1] ? ($_->[1] => 1) : () } @_;
  my $next = 0;
  map {
    my ($fd, $target) = @$_;
    if (!defined $target) {
      $next++ while $fixed{$next};
      $target = $next++;
    }
    [ $fd, $target ];
  } @_;
}

# forkctl_place_descriptors (exec.c): every source and every descriptor kept (`$keep`, updated
# in place) lifted above the highest target first, so that placing one never overwrites
# another still to be placed; then each target gets its source (the last one sent wins), 0 to 2
# /dev/null when none; before an exec the other numbers up to the highest are closed. Returns
# the highest target, or an errno.
sub place_descriptors {
  my ($moves, $keep, $calling) = @_;
  my $highest = 2;
  for (@$moves) { $highest = $_->[1] if $_->[1] > $highest }
  my @lifted;
  for (@$moves) {
    my $l = lift($_->[0], $highest + 1);
    return (undef, 0 + $!) unless defined $l;
    push @lifted, $l;
  }
  for (@$keep) {
    my $k = lift($_, $highest + 1);
    return (undef, 0 + $!) unless defined $k;
    POSIX::close($_);
    $_ = $k;
  }
  my $null = POSIX::open('/dev/null', O_RDWR | O_CLOEXEC);
  return (undef, 0 + $!) unless defined $null;
  my $lifted_null = lift($null, $highest + 1);
  return (undef, 0 + $!) unless defined $lifted_null;
  POSIX::close($null);
  for my $t (0 .. $highest) {
    my $source;
    for my $i (0 .. $#$moves) { $source = $lifted[$i] if $moves->[$i][1] == $t }
    $source = $lifted_null if !defined $source && $t <= 2;
    if (defined $source) {
      # dup2 clears FD_CLOEXEC on the new descriptor (dup(2)).
      return (undef, 0 + $!) unless defined POSIX::dup2($source, $t);
    } elsif (!$calling) {
      POSIX::close($t);
    }
  }
  if ($calling) { POSIX::close($_) for @lifted, $lifted_null }
  ($highest, 0);
}

sub failure { ($_[0] << 16) | $_[1] }

# forkctl_apply_attributes (exec.c), in the documented order. Returns 0 or a failure.
sub apply_attributes {
  my ($a, $calling) = @_;
  if ($a && $a->{flags} & ATTR_NEW_SESSION) {
    # setsid fails with EPERM in a process group leader: only a spawn's new process can.
    return failure(STEP_SESSION, 0 + $!) unless defined POSIX::setsid();
    return failure(STEP_CONTROLLING_TERMINAL, 0 + $!) unless ioctl(STDIN, TIOCSCTTY, 0);
    # This process stays the session leader, a monitor; the program goes on in its child.
    my $e = monitor_start();
    return failure(STEP_SESSION, $e) if $e;
  } else {
    # Its own process group (a no-op for a process forked by `fork`, which leads one): a
    # program's kill(0, ...) cannot reach the daemon.
    POSIX::setpgid(0, 0);
  }
  if (!$a) {
    set_mask(0);
    return 0;
  }
  # Limits before the nice value: the caller's RLIMIT_NICE may be what allows its nice value.
  # A hard limit above this process's is lowered to it (setrlimit(2): EPERM), never raised.
  for (@{ $a->{limits} }) {
    my ($resource, $soft, $hard) = @$_;
    next if defined sys(SYS_PRLIMIT64, 0, $resource, pack('QQ', $soft, $hard), 0);
    my $errno = 0 + $!;
    my $own = "\0" x 16;
    return failure(STEP_RLIMIT + $resource, $errno)
      if $errno != EPERM || !defined sys(SYS_PRLIMIT64, 0, $resource, 0, $own);
    my (undef, $own_hard) = unpack('QQ', $own);
    $hard = $own_hard if $hard > $own_hard;
    $soft = $hard if $soft > $hard;
    return failure(STEP_RLIMIT + $resource, 0 + $!)
      unless defined sys(SYS_PRLIMIT64, 0, $resource, pack('QQ', $soft, $hard), 0);
  }
  # A nice value below this process's needs CAP_SYS_NICE: without it the program keeps this
  # process's (setpriority(2): EACCES or EPERM).
  if (!setpriority(0, 0, $a->{nice}) && !$!{EACCES} && !$!{EPERM}) {
    return failure(STEP_NICE, 0 + $!);
  }
  umask($a->{umask});
  if ($a->{flags} & ATTR_NO_NEW_PRIVS && !defined sys(SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
    return failure(STEP_NO_NEW_PRIVS, 0 + $!);
  }
  if ($a->{flags} & ATTR_DROP_CAPABILITIES) {
    my $e = limit_capabilities($a);
    return failure(STEP_CAPABILITIES, $e) if $e;
  }
  # An ignored signal stays ignored across exec (signal(7)); in a call a handler the loaded
  # code installed stays, as a program's own would.
  for my $sig (1 .. 64) {
    next unless $a->{ignored} & (1 << ($sig - 1));
    if ($calling) {
      my $old = get_action($sig);
      next if defined $old && handler_of($old) != SIG_DFL;
    }
    return failure(STEP_SIGNALS, 0 + $!) unless defined set_action($sig, SIG_IGN);
  }
  return failure(STEP_SIGNALS, 0 + $!) unless defined set_mask($a->{blocked});
  0;
}

# forkctl_monitor_start (monitor.c): the session leader of a terminal stays as a monitor, as
# sudo's use_pty monitor does, and the program goes on in its child, in a process group of its
# own in the terminal's foreground, whose parent is in its session: a group that is not orphaned,
# where Ctrl-Z stops it. Every signal is blocked here (the spawn's child blocked them all).
sub monitor_start {
  my $leader = $$;
  # Perl's fork, glibc's: a called function needs its atfork handlers, as the native call's
  # monitor uses glibc's fork() for.
  my $pid = fork;
  return 0 + $! unless defined $pid;
  monitor($pid) if $pid;
  return 0 + $! unless defined POSIX::setpgid(0, 0) && defined POSIX::tcsetpgrp(0, $$);
  # The daemon's SIGKILL reaches only the monitor's group: the program dies with it.
  return 0 + $! unless defined sys(SYS_PRCTL, PR_SET_PDEATHSIG, 9, 0, 0, 0);
  POSIX::_exit(128 + 9) if getppid() != $leader;
  0;
}

sub monitor {
  my ($program) = @_;
  # The program may run before this: both make its group, whichever is first (setpgid(2)).
  POSIX::setpgid($program, $program);
  # Nothing of the program's stays open here but the terminal on 0, which tcsetpgrp needs.
  if (!defined sys(SYS_CLOSE_RANGE, 1, 0xffffffff, 0)) { POSIX::close($_) for 1 .. 1023 }
  my $all = pack('Q', ~0);
  while (1) {
    my $info = "\0" x 128;
    my $sig = sys(SYS_RT_SIGTIMEDWAIT, $all, $info, 0, 8);
    next unless defined $sig;
    if ($sig == POSIX::SIGCHLD()) {
      while (waitpid($program, POSIX::WNOHANG() | POSIX::WUNTRACED()) == $program) {
        exit_like($?) unless POSIX::WIFSTOPPED($?);
        # The program stopped: stop too (this group is orphaned); the client sees it in /proc,
        # stops itself, and sends SIGCONT here when its shell continues it.
        kill 'STOP', $$;
      }
      next;
    }
    if ($sig == POSIX::SIGCONT()) {
      POSIX::tcsetpgrp(0, $program);
    }
    kill($sig, -$program) or kill($sig, $program);
  }
}

# Ends the monitor as the program ended: the same code, or death by the same signal, without
# a core of its own (the core is the program's).
sub exit_like {
  my ($status) = @_;
  POSIX::_exit(POSIX::WEXITSTATUS($status)) if POSIX::WIFEXITED($status);
  my $sig = POSIX::WTERMSIG($status);
  sys(SYS_PRCTL, PR_SET_DUMPABLE, 0, 0, 0, 0);
  sys(SYS_PRLIMIT64, 0, RLIMIT_CORE, pack('QQ', 0, 0), 0);
  set_action($sig, SIG_DFL);
  kill $sig, $$;
  my $only = pack('Q', 1 << ($sig - 1));
  sys(SYS_RT_SIGPROCMASK, SIG_UNBLOCK, $only, 0, 8);
  POSIX::_exit(128 + $sig);
}

# limit_capabilities (exec.c): the bounding set, then the ambient set, while CAP_SETPCAP may
# still be held; then permitted, effective and inheritable with capset(2).
sub limit_capabilities {
  my ($a) = @_;
  for my $cap (0 .. 63) {
    next if $a->{bounding} & (1 << $cap);
    my $held = sys(SYS_PRCTL, PR_CAPBSET_READ, $cap, 0, 0, 0);
    return 0 + $! if defined $held && $held == 1 && !defined sys(SYS_PRCTL, PR_CAPBSET_DROP, $cap, 0, 0, 0);
  }
  for my $cap (0 .. 63) {
    next if $a->{ambient} & (1 << $cap);
    my $set = sys(SYS_PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, $cap, 0, 0);
    return 0 + $!
      if defined $set && $set == 1 && !defined sys(SYS_PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, $cap, 0, 0);
  }
  my $header = pack('LL', 0x20080522, 0);    # _LINUX_CAPABILITY_VERSION_3, this process
  my $data = "\0" x 24;
  return 0 + $! unless defined sys(SYS_CAPGET, $header, $data);
  my @d = unpack('L6', $data);    # effective, permitted, inheritable; twice (low, high words)
  my ($refilled, $kept) = (0, 0);
  for my $i (0, 1) {
    my $shift = 32 * $i;
    $d[ 3 * $i ] &= ($a->{effective} >> $shift) & 0xffffffff;
    $d[ 3 * $i + 1 ] &= ($a->{permitted} >> $shift) & 0xffffffff;
    $d[ 3 * $i + 2 ] &= ($a->{inheritable} >> $shift) & 0xffffffff;
    $refilled |= $d[ 3 * $i + 2 ] << $shift;
    $kept |= ($d[ 3 * $i + 1 ] & $d[ 3 * $i ]) << $shift;
  }
  for my $cap (0 .. 63) {
    my $held = sys(SYS_PRCTL, PR_CAPBSET_READ, $cap, 0, 0, 0);
    $refilled |= 1 << $cap if defined $held && $held == 1;
  }
  # Root gets its bounding and inheritable sets back at execve (capabilities(7)): SECBIT_NOROOT
  # keeps the lowered sets, set while CAP_SETPCAP is still effective.
  if (($< == 0 || $> == 0) && ($refilled & ~$kept)) {
    my $bits = sys(SYS_PRCTL, PR_GET_SECUREBITS, 0, 0, 0, 0);
    return 0 + $! unless defined $bits && defined sys(SYS_PRCTL, PR_SET_SECUREBITS, $bits | SECBIT_NOROOT, 0, 0, 0);
  }
  return 0 + $! unless defined sys(SYS_CAPSET, $header, pack('L6', @d));
  0;
}

# reset_signal_actions (exec.c): every action back to SIG_DFL before an exec, since an ignored
# signal would reach the program ignored.
sub reset_signal_actions {
  for my $sig (1 .. 64) {
    next if $sig == 9 || $sig == 19;
    my $old = get_action($sig);
    set_action($sig, SIG_DFL) if defined $old && handler_of($old) != SIG_DFL;
  }
}

# reset_own_signal_actions (call.c): before a call only what this process had at start and
# still has goes back to SIG_DFL; an action the loaded code set stays.
sub reset_own_signal_actions {
  for my $sig (keys %initial_actions) {
    my $now = get_action($sig);
    set_action($sig, SIG_DFL) if defined $now && $now eq $initial_actions{$sig};
  }
}

# The call's environment, as exec would give it: only what differs is changed, since each
# change frees and allocates in the C library's environ (pages the worker then copies).
sub set_environment {
  my %wanted = map { /\A([^=]*)=(.*)\z/s ? ($1, $2) : () } @{ $_[0] };
  for (keys %ENV) { delete $ENV{$_} unless exists $wanted{$_} }
  while (my ($k, $v) = each %wanted) {
    $ENV{$k} = $v unless defined $ENV{$k} && $ENV{$k} eq $v;
  }
}

# exec_search (exec.c): execvp(3) with its errors as the native template gives them.
sub exec_search {
  my ($file, $argv, $envp, $path) = @_;
  my $args = pack('p*', @$argv) . pack('Q', 0);
  my $env = pack('p*', @$envp) . pack('Q', 0);
  if ($file =~ m{/}) {
    syscall(SYS_EXECVE, $file, $args, $env);
    return exec_with_shell($file, $argv, $env) if $! == ENOEXEC;
    # execve(2) says EACCES for a directory; a shell says what it is.
    return EISDIR if $! == EACCES && -d $file;
    return 0 + $!;
  }
  return ENAMETOOLONG if length $file > 255;
  my $seen_eacces = 0;
  for my $dir (split /:/, $path // '/bin:/usr/bin', -1) {
    # An empty PATH element means the current directory (execvp(3)).
    my $candidate = $dir eq '' ? $file : "$dir/$file";
    next unless -e $candidate || !($!{ENOENT} || $!{ENOTDIR});
    syscall(SYS_EXECVE, $candidate, $args, $env);
    my $e = 0 + $!;
    if ($e == EACCES) {
      $seen_eacces = 1;
    } elsif ($e == ENOEXEC) {
      return exec_with_shell($candidate, $argv, $env);
    } elsif (!grep { $e == $_ } ENOENT, ENOTDIR, ESTALE, ENODEV, ETIMEDOUT, ELOOP, ENAMETOOLONG) {
      return $e;
    }
  }
  $seen_eacces ? EACCES : ENOENT;
}

sub exec_with_shell {
  my ($file, $argv, $env) = @_;
  my @sh = ('/bin/sh', $file, @$argv[ 1 .. $#$argv ]);
  syscall(SYS_EXECVE, '/bin/sh', pack('p*', @sh) . pack('Q', 0), $env);
  0 + $!;
}

# What a run or call prepares (Template.runSetup): the moves, the environment, and what the
# daemon watches (`keep`: the control socket unless the program keeps it, then the status pipe).
sub run_setup {
  my ($spec, $status_pipe, $received) = @_;
  my %s = (
    directory => $spec->{flags} & RUN_DIRECTORY ? $received->[0] : undef,
    pipe => $status_pipe ? $received->[-1] : undef,
    moves => [ placements(@fds) ],
    environment => $spec->{environment} // [ map { "$_=$ENV{$_}" } keys %ENV ],
    keep => [],
  );
  if ($spec->{flags} & RUN_KEEP_CONTROL) {
    my $slot = 2;
    for (@{ $s{moves} }) { $slot = $_->[1] if $_->[1] > $slot }
    $slot++;
    push @{ $s{moves} }, [ CONTROL_FD, $slot ];
    $s{environment} = [ (grep { !/\AFORKCTL_CONTROL_FD=/ } @{ $s{environment} }), "FORKCTL_CONTROL_FD=$slot" ];
  } else {
    push @{ $s{keep} }, CONTROL_FD;
  }
  push @{ $s{keep} }, $s{pipe} if defined $s{pipe};
  \%s;
}

# The program did not start: says why on the status pipe or the control socket, then exits as
# a shell does, 127 not found, 126 otherwise (Template.failRun).
sub fail_run {
  my ($failure, $setup) = @_;
  if (defined $setup->{pipe}) {
    POSIX::write($setup->{keep}[-1], pack('l<', $failure), 4);
  } else {
    send_frame(frame(R_EXEC_FAILED, pack('l<', $failure)), undef, $setup->{keep}[0]);
  }
  my $step = $failure >> 16;
  POSIX::_exit(($failure & 0xffff) == ENOENT && ($step == STEP_EXEC || $step == STEP_SYMBOL) ? 127 : 126);
}

# exec_worker (exec.c): the signal actions, the directory, the descriptors, the attributes,
# then execve. Returns a failure; `$keep` ends up on the numbers it was lifted to.
sub exec_worker {
  my ($moves, $directory, $program, $argv, $environment, $keep, $attributes) = @_;
  reset_signal_actions();
  return failure(STEP_WORKING_DIRECTORY, 0 + $!) if defined $directory && !defined fchdir($directory);
  my ($highest, $e) = place_descriptors($moves, $keep, 0);
  return $e unless defined $highest;
  # Nothing above the targets survives exec (close_range(2), Linux 5.11).
  if (!defined sys(SYS_CLOSE_RANGE, $highest + 1, 0xffffffff, CLOSE_RANGE_CLOEXEC)) {
    cloexec($_) for grep { /^\d+$/ && $_ > $highest } do { opendir(my $d, '/proc/self/fd'); readdir $d };
  }
  my $failed = apply_attributes($attributes, 0);
  return $failed if $failed;
  my ($path) = map { /\APATH=(.*)\z/s ? $1 : () } @$environment;
  exec_search($program, $argv, $environment, $path);
}

# forkctl_prepare_call (call.c): the same preparation without the exec. `$close`, forkctl's own
# descriptors, are lifted and closed last, once everything succeeded (a failure is reported
# through the last of them). Returns 0 or a failure.
sub prepare_call {
  my ($moves, $directory, $environment, $attributes, $close, $name) = @_;
  set_mask(~0);
  reset_own_signal_actions();
  return failure(STEP_WORKING_DIRECTORY, 0 + $!) if defined $directory && !defined fchdir($directory);
  # The imports memfd is the worker's, not a target's: lifted above them with forkctl's own.
  my @lifted = (@$close, defined $imports ? ($imports) : ());
  my ($highest, $e) = place_descriptors($moves, \@lifted, 1);
  $imports = pop @lifted if defined $imports;
  @$close = @lifted;
  return $e unless defined $highest;
  my $failed = apply_attributes($attributes, 1);
  return $failed if $failed;
  set_environment($environment);
  # Before the close: the daemon, at end of file on what it watches, reads the name to tell a
  # function that started from a process that died (Sys.hasExecuted).
  set_name($name);
  POSIX::close($_) for @$close;
  0;
}

# The function a call names: "Module::function", or a function of package main.
sub function_of {
  my ($name) = @_;
  $name = "main::$name" unless $name =~ /::/;
  no strict 'refs';
  defined &{$name} ? \&{$name} : undef;
}

# Calls the function with the strings sent, then the call's own, and ends the worker: its
# number return is the status (& 0xff), undef 0; a die prints its message on stderr and is 1.
sub call_and_exit {
  my ($function, $spec) = @_;
  my $ends = B::end_av;
  $ends_before = ref $ends eq 'B::AV' ? scalar(my @e = $ends->ARRAY) : 0;
  $quick_exit = $spec->{flags} & RUN_QUICK_EXIT;
  $calling = 1;
  my $status = 0;
  my $ok = eval {
    my $r = $function->(@strings, @{ $spec->{arguments} });
    # A number is the status; anything else (undef, an empty list, a reference) is 0.
    $status = defined $r && !ref $r && Scalar::Util::looks_like_number($r) && abs($r) < 2**31 ? int($r) : 0;
    1;
  };
  if (!$ok) {
    my $message = "$@";
    print STDERR $message;
    $status = 1;
  }
  finish($status);
}

# The end of a call (and of `exit` in one): with the quick-exit flag at once; otherwise the END
# blocks compiled in the worker (not the template's: those are cleared, as the forkserver
# child's atexit._clear() does), a flush of stdio, then _exit.
sub finish {
  my ($status) = @_;
  $status = int($status // 0);
  if (!$quick_exit) {
    my $ends = B::end_av;
    if (ref $ends eq 'B::AV') {
      my @all = $ends->ARRAY;
      local $? = $status;
      for my $end (@all[ 0 .. $#all - $ends_before ]) {
        eval { $end->object_2svref->(); 1 } or print STDERR "$@";
      }
      $status = $?;
    }
    # Setting $| flushes the handle at once (perlvar), without IO::Handle in every fork.
    for my $handle (\*STDOUT, \*STDERR) {
      my $previous = select $handle;
      $| = 1;
      select $previous;
    }
  }
  POSIX::_exit($status & 0xff);
}

# ---- commands --------------------------------------------------------------------------------------

sub command_fork {
  my ($new_id, $child_control) = @_;
  unless (single_threaded('forking')) {
    POSIX::close($child_control);
    return;
  }
  keep_import_hook_first();
  my $pid = fork;
  if (!defined $pid) {
    my $reason = "$!";
    POSIX::close($child_control);
    return refuse(E_TEMPLATE_FAILED, cannot_create_process($reason));
  }
  if ($pid == 0) {
    # The child: its own control socket replaces the parent's on 3; the strings and
    # descriptors sent so far are its own copies now.
    POSIX::_exit(71) unless defined POSIX::dup2($child_control, CONTROL_FD);
    POSIX::close($child_control);
    cloexec(CONTROL_FD);
    forget_inheritance();
    # Its own process group: a program's kill(0, ...) cannot reach the daemon.
    POSIX::setpgid(0, 0);
    # Its pid first: should the parent die before reporting the fork, the daemon still knows
    # whose status it reaps.
    report(R_SPAWNING, pack('l<', $$));
    $0 = "forkctl: process $new_id";
    set_name(PROCESS_NAME);
    return;
  }
  POSIX::close($child_control);
  return refuse_unannounced($pid) unless defined adopt($pid);
  announce($pid);
  report(R_FORKED, pack('l<', $pid));
}

# No pidfd for a new child (pidfd_open(2) needs Linux 5.3): it cannot be announced, so it goes.
sub refuse_unannounced {
  my ($pid) = @_;
  my $reason = "$!";
  kill 'KILL', $pid;
  waitpid($pid, 0);
  refuse(E_TEMPLATE_FAILED, "the host cannot open a pidfd of its child: $reason");
}

sub cannot_create_process {
  my ($reason) = @_;
  my $hint = $reason =~ /Resource temporarily unavailable/
    ? ' (a limit on processes is reached: the user\'s RLIMIT_NPROC, a pids cgroup, or kernel.pid_max)' : '';
  "the template cannot create a process: $reason$hint";
}

sub command_run {
  my ($spec, $status_pipe, $attributes, $received) = @_;
  my $setup = run_setup($spec, $status_pipe, $received);
  if (!($spec->{flags} & RUN_CALL)) {
    my $failure = exec_worker($setup->{moves}, $setup->{directory}, $spec->{program},
      [ $spec->{program}, @strings, @{ $spec->{arguments} } ], $setup->{environment}, $setup->{keep}, $attributes);
    fail_run($failure, $setup);
  }
  my $function = function_of($spec->{program});
  fail_run(failure(STEP_SYMBOL, ENOENT), $setup) unless $function;
  # forkctl's own descriptors go, the loaded code's stay; what the daemon watches last.
  my @close = ((grep { !defined $setup->{pipe} || $_ != $setup->{pipe} } @$received), map { $_->[0] } @fds);
  push @close, CONTROL_FD if $spec->{flags} & RUN_KEEP_CONTROL;
  push @close, @{ $setup->{keep} };
  my $failure = prepare_call($setup->{moves}, $setup->{directory}, $setup->{environment}, $attributes, \@close,
    $spec->{program});
  if ($failure) {
    $setup->{keep} = [ @close[ $#close - $#{ $setup->{keep} } .. $#close ] ];
    fail_run($failure, $setup);
  }
  call_and_exit($function, $spec);
}

# A spawn: a child forked at once, which announces itself, then execs or calls with what this
# process holds plus the request's descriptors; this process answers with hostChild and
# spawned once the child's pipe says it started (end of file) or why not (four bytes).
sub command_spawn {
  my ($targets, $spec, $attributes, $received) = @_;
  my @extra = @$received[ 0 .. $#$targets ];
  my $directory = $spec->{flags} & RUN_DIRECTORY ? $received->[-1] : undef;
  my $call = $spec->{flags} & RUN_CALL;
  my $done = sub { POSIX::close($_) for @$received };
  return $done->() unless single_threaded('spawning from');
  my $function;
  if ($call) {
    $function = function_of($spec->{program});
    if (!$function) {
      $done->();
      return refuse(E_SYMBOL_NOT_FOUND, "no module loaded into the template defines $spec->{program}");
    }
  }
  my ($read, $write);
  if (!pipe($read, $write)) {
    my $reason = "$!";
    $done->();
    return refuse(E_TEMPLATE_FAILED, "the template cannot create a pipe: $reason");
  }
  keep_import_hook_first();
  my $pid = fork;
  if (!defined $pid) {
    my $reason = "$!";
    $done->();
    return refuse(E_TEMPLATE_FAILED, cannot_create_process($reason));
  }
  if ($pid == 0) {
    # As posix_spawn does: no handler runs before the program's mask is set, the last step.
    set_mask(~0);
    report(R_SPAWNING, pack('l<', $$));
    close $read;
    forget_inheritance();
    my @moves = placements(@fds, map { [ $extra[$_], $targets->[$_] ] } 0 .. $#$targets);
    my $environment = $spec->{environment} // [ map { "$_=$ENV{$_}" } keys %ENV ];
    my $pipe = fileno $write;
    if ($call) {
      # The pipe last: on failure the report goes through it, on its new number.
      my @close = (@$received, (map { $_->[0] } @fds), CONTROL_FD, $pipe);
      my $failure = prepare_call(\@moves, $directory, $environment, $attributes, \@close, $spec->{program});
      if ($failure) {
        POSIX::write($close[-1], pack('l<', $failure), 4);
        POSIX::_exit(126);
      }
      call_and_exit($function, $spec);
    }
    my @keep = ($pipe);
    POSIX::close(CONTROL_FD);
    my $failure = exec_worker(\@moves, $directory, $spec->{program},
      [ $spec->{program}, @strings, @{ $spec->{arguments} } ], $environment, \@keep, $attributes);
    POSIX::write($keep[0], pack('l<', $failure), 4);
    POSIX::_exit(($failure & 0xffff) == ENOENT && $failure >> 16 == STEP_EXEC ? 127 : 126);
  }
  close $write;
  my $pidfd = adopt($pid);
  # End of file: prepared, and running; otherwise the failure of the step that failed.
  my $bytes = '';
  while (1) {
    my $n = sysread($read, $bytes, 4 - length $bytes, length $bytes);
    next if !defined $n && $!{EINTR};
    last if !$n || length $bytes == 4;
  }
  close $read;
  $done->();
  return refuse_unannounced($pid) unless defined $pidfd;
  announce($pid);
  report(R_SPAWNED, pack('l<l<', $pid, length $bytes == 4 ? unpack('l<', $bytes) : 0));
}

# Changes to the caller's directory for a load or an eval; it stays this process's.
sub enter_directory {
  my ($directory) = @_;
  return 1 unless defined $directory;
  my $ok = defined fchdir($directory);
  my $reason = "$!";
  POSIX::close($directory);
  return 1 if $ok;
  refuse_load(E_WORKING_DIRECTORY, "cannot change to the caller's working directory: $reason");
  0;
}

sub report_loaded {
  my @names = thread_names();
  report(R_LOADED, pack('V', scalar @names) . list(@names));
}

# The load command: `require Module::Name`, then its init, a function of the module, once with
# the arguments. A name that is no module name is a file, relative to the caller's directory
# (require alone would look for a relative path in @INC). A die fails the load; the module
# stays loaded.
sub command_load {
  my ($path, $init, $arguments, $directory) = @_;
  return unless enter_directory($directory);
  my $file = $path;
  my $module = $path =~ /\A[A-Za-z_]\w*(?:::\w+)*\z/ ? $path : undef;
  if (defined $module) {
    ($file = "$module.pm") =~ s{::}{/}g;
  } elsif ($file !~ m{\A\.{0,2}/}) {
    $file = "./$file";
  }
  my $ok = eval { require $file; 1 };
  return refuse_load(E_LOAD_FAILED, clean("$@")) unless $ok;
  if ($init ne '') {
    my $function = function_of($init =~ /::/ || !defined $module ? $init : "${module}::$init");
    return refuse_load(E_SYMBOL_NOT_FOUND, "$path does not define $init") unless $function;
    return refuse_load(E_LOAD_FAILED, clean("$@")) unless eval { $function->(@$arguments); 1 };
  }
  report_loaded();
}

sub command_eval {
  my ($code, $arguments, $directory) = @_;
  return unless enter_directory($directory);
  return refuse_load(E_LOAD_FAILED, clean("$@")) unless evaluate_in_main($code, $arguments);
  report_loaded();
}

sub clean { my $m = $_[0]; $m =~ s/\s+\z//; $m eq '' ? 'it died' : $m }

sub dispatch {
  my ($type, $payload, $received) = @_;
  my $r = [ $payload, 0 ];
  my $expect = sub {
    if (@$received != $_[0]) {
      POSIX::close($_) for @$received;
      violation('descriptor count');
    }
  };
  if ($type == C_FDS) {
    my @t = targets($r);
    finished($r);
    $expect->(scalar @t);
    push @fds, map { [ $received->[$_], $t[$_] ] } 0 .. $#t;
  } elsif ($type == C_ARGS) {
    my @s = strings($r);
    finished($r);
    $expect->(0);
    push @strings, @s;
  } elsif ($type == C_FORK) {
    my $new_id = u64($r);
    finished($r);
    $expect->(1);
    command_fork($new_id, $received->[0]);
  } elsif ($type == C_RUN) {
    my ($spec, $outer) = run_spec($r, RUN_STATUS_PIPE | RUN_ATTRIBUTES);
    my $attributes = $outer & RUN_ATTRIBUTES ? attributes($r) : undef;
    finished($r);
    my $status_pipe = $outer & RUN_STATUS_PIPE;
    $expect->(($spec->{flags} & RUN_DIRECTORY ? 1 : 0) + ($status_pipe ? 1 : 0));
    command_run($spec, $status_pipe, $attributes, $received);
  } elsif ($type == C_SPAWN) {
    u64($r);
    my @t = targets($r);
    my ($spec, $outer) = run_spec($r, RUN_ATTRIBUTES);
    violation('spawn command flags') if $spec->{flags} & RUN_KEEP_CONTROL;
    my $attributes = $outer ? attributes($r) : undef;
    finished($r);
    $expect->(@t + ($spec->{flags} & RUN_DIRECTORY ? 1 : 0));
    command_spawn(\@t, $spec, $attributes, $received);
  } elsif ($type == C_LOAD) {
    my $flags = u32($r);
    violation("load flags $flags") if $flags & ~(LOAD_GLOBAL | LOAD_DIRECTORY);
    my ($path, $init, @arguments) = (str($r), str($r), strings($r));
    finished($r);
    violation('load path') if $path eq '';
    no_nul($_, 'load field') for $path, $init, @arguments;
    $expect->($flags & LOAD_DIRECTORY ? 1 : 0);
    command_load($path, $init, \@arguments, $received->[0]);
  } elsif ($type == C_EVAL) {
    my $flags = u32($r);
    violation("eval flags $flags") if $flags & ~LOAD_DIRECTORY;
    my ($code, @arguments) = (str($r), strings($r));
    finished($r);
    violation('eval code') if $code eq '';
    no_nul($_, 'eval field') for $code, @arguments;
    $expect->($flags & LOAD_DIRECTORY ? 1 : 0);
    command_eval($code, \@arguments, $received->[0]);
  } else {
    POSIX::close($_) for @$received;
    violation("type $type");
  }
}

# Waits for a frame on the control socket, reporting and reaping children meanwhile: the
# host never blocks in waitpid (hosts14.md, Reaping).
sub serve {
  while (1) {
    while (%children) {
      my $bits = '';
      vec($bits, CONTROL_FD, 1) = 1;
      vec($bits, $_, 1) = 1 for values %children;
      my $n = select(my $ready = $bits, undef, undef, undef);
      next if $n < 0;
      for my $pid (keys %children) { reap($pid) if vec($ready, $children{$pid}, 1) }
      last if vec($ready, CONTROL_FD, 1);
    }
    dispatch(receive_frame());
  }
}

# ---- start ----------------------------------------------------------------------------------------------

die "forkctl host: Linux x86_64 only (its system call numbers), not $^O on " . (POSIX::uname())[4] . "\n"
  unless $^O eq 'linux' && (POSIX::uname())[4] eq 'x86_64';
# The script's descriptor goes first: nothing of the daemon's may reach a worker.
POSIX::close(4);
open($control, '+<&=', CONTROL_FD) or POSIX::_exit(70);
cloexec(CONTROL_FD);
$0 = "forkctl: template $id";
# A name no exec gives (it has a '/'), inherited by every fork: the daemon tells from it
# whether a process that ended with a run pending had run its program ($0 set it too: after).
set_name(PROCESS_NAME);
# Numerical libraries start a thread pool at load unless told not to, and a template with
# threads refuses to fork (next-capabilities.md 2.4).
$ENV{$_} //= 1
  for qw(OPENBLAS_NUM_THREADS OMP_NUM_THREADS MKL_NUM_THREADS NUMEXPR_NUM_THREADS VECLIB_MAXIMUM_THREADS);
$SIG{CHLD} = 'DEFAULT';    # an ignored SIGCHLD would reap the children before their report
for my $sig (1 .. 64) {
  my $action = get_action($sig);
  $initial_actions{$sig} = $action if defined $action && handler_of($action) != SIG_DFL;
}
unshift @INC, $import_hook;
$INC{'Forkctl/Host.pm'} = __FILE__;
# Started and serving: the exec that made this host is answered now.
report(R_HOST_READY);
serve();

# The helper for code in a worker (forkctl(1), Perl host).
package Forkctl::Host;

# The control socket's descriptor in a worker run with --keep-control, undef otherwise.
sub control_fd {
  my $fd = $ENV{FORKCTL_CONTROL_FD};
  defined $fd && $fd =~ /\A\d+\z/ ? 0 + $fd : undef;
}

# One datagram on the pool's notify socket (FORKCTL_NOTIFY_FD), such as "READY=1"; nothing
# outside a pool. True when sent.
sub notify {
  my ($text) = @_;
  my $fd = $ENV{FORKCTL_NOTIFY_FD};
  return 0 unless defined $fd && $fd =~ /\A\d+\z/;
  my $n = POSIX::write($fd, $text, length $text);
  defined $n && $n == length $text;
}

sub worker_id { $ENV{FORKCTL_WORKER} }
sub pool { $ENV{FORKCTL_POOL} }

1;
