#!/usr/bin/env bash
# Fails if /dev/shm holds a segment of this project (any made by the library carries its
# trailer; test names start with "shma"), so a run that leaks is caught even across targets.
left=$(ls -A /dev/shm 2>/dev/null | grep -E '^(shma|psm_shma|test_shma)' || true)
if [ -n "$left" ]; then
  echo "check-shm-clean: /dev/shm still holds:"; echo "$left" | sed 's/^/  /'; exit 1
fi
echo "check-shm-clean: /dev/shm holds nothing of shmanager"
