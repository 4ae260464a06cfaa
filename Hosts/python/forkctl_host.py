#!/usr/bin/env python3
# Placeholder until the Python host is written (issue 14): it serves nothing.
import sys

sys.exit(70)
