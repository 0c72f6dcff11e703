#!/bin/sh
# The demo's stand-in for a paid SMS gateway (otpgate-sender's exec
# transport): appends each SMS it is handed to the file named by $1.
# Arguments: FILE DESTINATION; the text on standard input.
out=$1 to=$2
{
  printf -- '--- SMS %s to %s at %s\n' "${OTPGATE_MESSAGE_ID:-?}" "$to" "$(date -u +%H:%M:%S)"
  cat
  printf '\n'
} >> "$out"
echo "demo-${OTPGATE_MESSAGE_ID:-0}"
