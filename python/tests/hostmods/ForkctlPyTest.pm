# Functions the host tests call in workers of a Perl host template, from Python.
package ForkctlPyTest;
use strict;
use warnings;

sub echo {
    print join("\n", @_), "\n";
    return;
}

sub status { return $_[0] }

sub fail { die "$_[0]\n" }

1;
