#!/bin/sh
# Echoes the query string: the load generator's per-request answer.
printf 'Content-Type: text/plain\r\n\r\nquery=%s\n' "$QUERY_STRING"
