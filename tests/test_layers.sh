#!/bin/sh
# Rooms and arrows (docs/ARCHITECTURE.md): no call or #include of a plugin/ file runs from a room
# up into a room above it, and no two source files call each other, directly or around a circle.
# Reads the objects of the build with nm (tests/check_layers.py). Usage: sh tests/test_layers.sh BUILD
BUILD=${1:-build}
command -v python3 >/dev/null || { echo "test_layers: python3 not found"; echo "0 passed, 1 failed"; exit 1; }
exec python3 tests/check_layers.py "$BUILD"
