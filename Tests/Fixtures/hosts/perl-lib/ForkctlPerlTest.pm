# Functions the Perl host's tests call in workers (Tests/Fixtures/hosts/test_perl_host.py and
# Tests/ForkctlIntegrationTests/PerlHostTests.swift).
package ForkctlPerlTest;
use strict;
use warnings;

our @init_arguments;
our $announce_end;    # set by a test's eval: the template's END block then prints

# Load's init: remembers its arguments, which every worker forked afterwards sees.
sub init { @init_arguments = @_; return }

# Dies in its init: the load fails and the module stays loaded.
sub broken_init { die "the init refuses\n" }

# Prints its arguments, one a line, and the init's, on descriptor 1.
sub echo {
  print "arg:$_\n" for @_;
  print "init:$_\n" for @init_arguments;
  return 0;
}

# Copies what it reads on the descriptor named by its first argument to descriptor 1.
sub copy_from {
  my ($fd) = @_;
  open(my $in, '<&=', $fd) or die "cannot open descriptor $fd: $!\n";
  local $/;
  print scalar <$in>;
  return 0;
}

sub returns { return $_[0] }
sub returns_nothing { return }
sub dies { die "worker failed on purpose\n" }
sub exits { exit $_[0] }

# Prints the umask, the soft RLIMIT_NOFILE as the shell's ulimit -n sees it, the process group
# and the name, then returns 0.
sub describe {
  printf "umask=%04o\n", umask;
  my $limit = `sh -c 'ulimit -n'`;
  chomp $limit;
  print "nofile=$limit\n";
  print "pgid=", getpgrp(0), " pid=$$\n";
  open(my $comm, '<', "/proc/$$/comm") or die;
  print "comm=", scalar <$comm>;
  print "control=", (Forkctl::Host::control_fd() // 'none'), "\n";
  print "nice=", getpriority(0, 0), "\n";
  open(my $status, '<', "/proc/$$/status") or die;
  print map { /^(SigBlk|SigIgn):\s*(\S+)/ ? "$1=$2\n" : () } <$status>;
  return 0;
}

# Requires a module the template did not load, then waits for a byte on descriptor 0, so that
# a test can read the record of the require while it lives.
sub require_late_and_wait {
  require Text::Abbrev;
  require ForkctlPerlTest::Late;
  sysread(STDIN, my $byte, 1);
  return 0;
}

# Waits for a byte on descriptor 0, then returns its first argument.
sub wait_then_return {
  sysread(STDIN, my $byte, 1);
  return $_[0] // 0;
}

# Waits until the file named by its first argument exists, then returns its second.
sub await_file {
  my ($path, $status) = @_;
  select(undef, undef, undef, 0.01) until -e $path;
  return $status;
}

# Requires modules the template did not load, then waits for the file, so that a test can
# audit the worker while it lives.
sub require_late_and_await {
  require Text::Abbrev;
  require ForkctlPerlTest::Late;
  return await_file($_[0], 0);
}

# Prints the terminal on descriptor 0 and whether its process group is the terminal's
# foreground, its session another process's (the monitor's).
sub terminal {
  require POSIX;
  my $tty = POSIX::ttyname(0) // 'none';
  my $foreground = POSIX::tcgetpgrp(0) == getpgrp(0) ? 1 : 0;
  my $sid = (split ' ', do { open(my $f, '<', "/proc/$$/stat") or die; local $/; (<$f> =~ /\) (.*)/)[0] })[3];
  my $leader = $sid != $$ && $sid == getppid() ? 1 : 0;
  print "tty=$tty foreground=$foreground monitor=$leader\n";
  return 0;
}

# A pool's worker: says who it is through Forkctl::Host (a STATUS= line on the notify socket)
# and READY=1, then waits for the pool to stop it (SIGTERM).
sub pool_worker {
  my $who = join ' ', 'perl worker', Forkctl::Host::worker_id(), 'of', Forkctl::Host::pool(), @_;
  Forkctl::Host::notify("STATUS=$who") or die "no notify socket\n";
  Forkctl::Host::notify("READY=1");
  sleep 1 while 1;
}

# Dies of SIGSEGV.
sub crash { kill 'SEGV', $$; sleep 10 }

# An END block compiled in the worker runs at its end; the template's (below) does not.
sub with_end_block {
  eval 'END { print "worker END\n" } 1' or die $@;
  return 3;
}

END { print "template END\n" if $announce_end }

1;
