#!/usr/bin/perl
# AnyEvent::Fork's side of Scripts/bench's AnyEvent::Fork groups. One untimed iteration
# (which also starts AnyEvent::Fork's template process, a fresh perl), then N timed ones,
# one after another; prints the microseconds the N took.
#
#   anyevent-fork.pl exec N   the manual's "use AnyEvent::Fork as a faster fork+exec":
#                             new->eval(helper)->send_fh(STDOUT)->send_arg("/bin/true",
#                             "hi")->run("run"); the helper puts the handle on stdout and
#                             the communication socket on stderr and execs /bin/true hi;
#                             then wait until that socket closes (/bin/true has ended).
#   anyevent-fork.pl exit N   the manual's benchmark: new->run("CORE::exit"), then wait
#                             until the socket closes (the forked process has exited).
#   anyevent-fork.pl run N    a preloaded template: $t = new->require("BenchWorker") once
#                             (untimed), then $t->fork->run("BenchWorker::f") each time,
#                             and wait until the socket closes (f returned, the process
#                             exited): what forkctl's fork + call does.
use strict;
use warnings;
use AnyEvent;
use AnyEvent::Fork;
use Errno qw(EAGAIN EINTR);
use FindBin;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
# BenchWorker.pm, beside this script; AnyEvent::Fork gives its template our @INC.
use lib $FindBin::Bin;

my ($mode, $n) = @ARGV;
die "usage: anyevent-fork.pl exec|exit|run N\n"
  unless defined $n && $n =~ /^[1-9][0-9]*$/ && $mode =~ /^(exec|exit|run)$/;

# From the manual's example, with /bin/true for /bin/echo and our stdout for /tmp/log.
my $helper = q{
   sub run {
      my ($fh, $output, @cmd) = @_;
      open STDOUT, ">&", $output or die;
      open STDERR, ">&", $fh or die;
      exec @cmd;
   }
};

# Waits until the peer of $fh (non-blocking in this process) has closed it.
sub wait_closed {
  my ($fh) = @_;
  my $done = AE::cv;
  my $w = AE::io $fh, 0, sub {
    my $r = sysread $fh, my $buf, 512;
    $done->send if defined $r ? $r == 0 : ($! != EAGAIN && $! != EINTR);
  };
  $done->recv;
}

sub once_exec {
  my $cv = AE::cv;
  AnyEvent::Fork->new->eval($helper)->send_fh(\*STDOUT)->send_arg("/bin/true", "hi")->run("run", $cv);
  wait_closed($cv->recv);
}

sub once_exit {
  my $cv = AE::cv;
  AnyEvent::Fork->new->run("CORE::exit", $cv);
  wait_closed($cv->recv);
}

my $template;

sub once_run {
  my $cv = AE::cv;
  $template->fork->run("BenchWorker::f", $cv);
  wait_closed($cv->recv);
}

my $once = {exec => \&once_exec, exit => \&once_exit, run => \&once_run}->{$mode};
$template = AnyEvent::Fork->new->require("BenchWorker") if $mode eq "run";
$once->();
my $t0 = clock_gettime(CLOCK_MONOTONIC);
$once->() for 1 .. $n;
my $t1 = clock_gettime(CLOCK_MONOTONIC);
printf "%d\n", ($t1 - $t0) * 1e6;
