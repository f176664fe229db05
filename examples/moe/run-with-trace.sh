#!/usr/bin/env bash
# Runs a command with PW_TRACE=$1, then checks the trace with
# check-trace-overlap.py for $2 processes.
set -euo pipefail
trace=$1 ranks=$2
shift 2
PW_TRACE=$trace "$@"
exec python3 "$(dirname "$0")/check-trace-overlap.py" "$trace" "$ranks"
