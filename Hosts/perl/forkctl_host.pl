#!/usr/bin/env perl
# Placeholder until the Perl host is written (issue 14): it serves nothing.
exit 70;
