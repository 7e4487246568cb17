#!/bin/bash
# Unit tests (tests/unit/unit.c), TAP from the binary itself.
. "$(dirname "$0")/lib.sh"
exec "$UNIT"
