#!/bin/sh
# Echoes the request body read from stdin to end of file.
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec cat
