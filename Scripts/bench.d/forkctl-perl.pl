#!/usr/bin/perl
# forkctl's side of Scripts/bench's Perl row (issue 14): AnyEvent::Fork's preloaded-template
# pattern done with forkctl's Perl host, from Perl. A client of the protocol in a few lines
# of core Perl (forkctl-protocol(7)); no descriptor travels, so no SCM_RIGHTS is needed.
#
#   forkctl-perl.pl call N   exec --perl a template (this perl) and load BenchWorker into it
#                            once (untimed), then N times: one spawn request calling
#                            BenchWorker::f in a new worker, whose replies are `created`
#                            and, once it has exited, `statuses` (it must be 0); prints the
#                            microseconds the N took, after one untimed call.
#   forkctl-perl.pl bare N   the floor, without forkctl: this process requires BenchWorker,
#                            then N times fork, POSIX::_exit(0) in the child, waitpid;
#                            prints the microseconds the N took.
#
# The daemon is the one at $FORKCTL_SOCKET. The template gets this process's environment,
# with this script's directory first in PERL5LIB so that it finds BenchWorker.pm.
use strict;
use warnings;
use FindBin;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($mode, $n) = @ARGV;
die "usage: forkctl-perl.pl call|bare N\n" unless defined $n && $mode =~ /\A(call|bare)\z/ && $n =~ /^[1-9][0-9]*$/;

if ($mode eq 'bare') {
  use lib $FindBin::Bin;
  require BenchWorker;
  require POSIX;
  my $once = sub {
    my $pid = fork // die "forkctl-perl.pl: fork: $!\n";
    POSIX::_exit(0) unless $pid;
    waitpid($pid, 0) == $pid && $? == 0 or die "forkctl-perl.pl: a child ended with status $?\n";
  };
  $once->();
  my $t0 = clock_gettime(CLOCK_MONOTONIC);
  $once->() for 1 .. $n;
  print int((clock_gettime(CLOCK_MONOTONIC) - $t0) * 1e6), "\n";
  exit 0;
}
my $path = $ENV{FORKCTL_SOCKET} or die "forkctl-perl.pl: FORKCTL_SOCKET is not set\n";
my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
  or die "forkctl-perl.pl: cannot connect to $path: $!\n";

use constant {
  EXEC => 0x03, KILL => 0x09, WAIT => 0x08, SPAWN => 0x0c, LOAD => 0x10,
  CREATED => 0x41, FAILURE => 0x42, STATUSES => 0x43, LOADED => 0x46, OK => 0x40,
  PERL_HOST => 2, CALL_FLAG => 128,
};

sub str { pack('V/a*', $_[0]) }
sub strings { pack('V', scalar @_) . join('', map { str($_) } @_) }

sub send_frame {
  my ($type, $payload) = @_;
  my $frame = pack('CCvV', 1, $type, 0, length $payload) . $payload;
  while (length $frame) {
    my $w = syswrite($sock, $frame) // die "forkctl-perl.pl: write: $!\n";
    substr($frame, 0, $w) = '';
  }
}

sub read_exactly {
  my ($count) = @_;
  my $buf = '';
  while (length $buf < $count) {
    my $r = sysread($sock, $buf, $count - length $buf, length $buf) // die "forkctl-perl.pl: read: $!\n";
    die "forkctl-perl.pl: the daemon closed the connection\n" if $r == 0;
  }
  return $buf;
}

# The next reply, which must be of type $want: its payload.
sub reply {
  my ($want) = @_;
  my ($version, $type, $fds, $size) = unpack('CCvV', read_exactly(8));
  my $payload = $size ? read_exactly($size) : '';
  if ($type == FAILURE) {
    my ($code, $message) = unpack('v V/a*', $payload);
    die "forkctl-perl.pl: failure $code: $message\n";
  }
  die sprintf("forkctl-perl.pl: reply 0x%02x where 0x%02x was expected\n", $type, $want) if $type != $want;
  return $payload;
}

my %env = %ENV;
$env{PERL5LIB} = join(':', $FindBin::Bin, grep { length } split /:/, $ENV{PERL5LIB} // '');
send_frame(EXEC, str('') . pack('C', PERL_HOST) . str($^X) . strings(map { "$_=$env{$_}" } sort keys %env));
my ($template) = unpack('Q<', reply(CREATED));
send_frame(LOAD, str($template) . pack('V', 0) . str('BenchWorker') . str('') . strings());
reply(LOADED);

# spawn: from, name, flags, no targets, then the run spec (flags, program, arguments).
my $spawn = str($template) . str('') . pack('VV', 0, 0) . pack('V', CALL_FLAG) . str('BenchWorker::f') . strings();
sub once {
  send_frame(SPAWN, $spawn);
  reply(CREATED);
  my ($count, $id, $tag, $value) = unpack('V Q< C l<', reply(STATUSES));
  die "forkctl-perl.pl: a worker ended with tag $tag value $value\n" unless $count == 1 && $tag == 1 && $value == 0;
}

once();
my $t0 = clock_gettime(CLOCK_MONOTONIC);
once() for 1 .. $n;
my $us = int((clock_gettime(CLOCK_MONOTONIC) - $t0) * 1e6);
send_frame(KILL, pack('l<', 9) . strings($template));
reply(OK);
send_frame(WAIT, strings($template));
reply(STATUSES);
print "$us\n";
