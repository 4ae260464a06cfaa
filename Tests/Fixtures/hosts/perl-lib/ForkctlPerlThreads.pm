# Starts a thread when loaded: the Perl host must then refuse to fork.
package ForkctlPerlThreads;
use strict;
use warnings;
use threads;

threads->create(sub { sleep 1000 })->detach;

1;
