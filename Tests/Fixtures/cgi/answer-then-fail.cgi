#!/bin/sh
# Writes a whole response, then fails.
printf 'Content-Type: text/plain\r\n\r\nanswered\n'
exit 4
