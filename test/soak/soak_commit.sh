#!/usr/bin/env bash
# The concurrent soak of soak.sh on counters in mode 'commit', with
# transactions of several statements touching parents in no common order.
SOAK_MODE=commit exec bash "$(dirname "$0")/soak.sh"
