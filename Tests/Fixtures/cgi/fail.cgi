#!/bin/sh
# Writes nothing and fails.
echo "fail.cgi: failing on purpose" >&2
exit 3
