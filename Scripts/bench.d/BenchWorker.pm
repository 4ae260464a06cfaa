# The module AnyEvent::Fork's template requires once in Scripts/bench's function-worker
# group (anyevent-fork.pl run): f is the trivial work each forked process runs.
package BenchWorker;
use strict;
use warnings;

sub f { }

1;
