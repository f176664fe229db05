#!/usr/bin/env bash
# Runs a command that must fail: passes when it exits non-zero and its output
# matches the extended regular expression $1.
pattern=$1
shift
output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
if [[ $status -eq 0 ]]; then
  echo "expect-failure: the command succeeded but should have failed" >&2
  exit 1
fi
if ! grep -Eq "$pattern" <<< "$output"; then
  echo "expect-failure: no line matches /$pattern/" >&2
  exit 1
fi
echo "expect-failure: failed as expected (exit $status)"
