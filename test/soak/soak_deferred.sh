#!/usr/bin/env bash
# The concurrent soak of soak.sh on deferred counters, with a client
# looping denorm_flush() besides the writers and the reconciler.
SOAK_MODE=deferred exec bash "$(dirname "$0")/soak.sh"
