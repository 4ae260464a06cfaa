#!/usr/bin/perl
# Contender (b) of Scripts/bench's HTTP group: Parallel::Prefork (Debian's
# libparallel-prefork-perl) keeps W workers, each exec'ing the same C handler as the other
# contenders, with the listening socket the bench gave this process at descriptor 3.
#
#   prefork.pl W HANDLER
#
# SIGTERM: the manager passes it to every worker (trap_signals), so that each ends as the
# handler ends on it (an idle one at once, a busy one after its connection), and waits for
# them all. Perl sets close-on-exec only on descriptors above $^F (2) that it opens itself:
# descriptor 3, inherited, reaches the handler.
use strict;
use warnings;
use Parallel::Prefork;

@ARGV == 2 && $ARGV[0] =~ /^[1-9][0-9]*$/ or die "usage: prefork.pl W HANDLER\n";
my ($workers, $handler) = @ARGV;
my $pm = Parallel::Prefork->new({ max_workers => $workers, trap_signals => { TERM => 'TERM', INT => 'TERM' } });
while ($pm->signal_received ne 'TERM') {
  $pm->start(sub { exec { $handler } $handler or die "prefork.pl: cannot exec $handler: $!\n" });
}
$pm->wait_all_children;
