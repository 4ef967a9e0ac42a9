#!/usr/bin/env bash
# yolo5's settings, sourced first by hooks/lib.sh (appspecs/shared/hooks/lib.sh).
# Each setting can be overridden from the environment (the test harness does).

# The container's name; stop, start and validate all find it by this name.
SERVICE="${SERVICE:-yolo5}"
# Seconds docker waits after SIGTERM before SIGKILL: the worker finishes its current job and
# stops receiving. On an instance the env file's STOP_TIMEOUT (the queue's visibility timeout)
# replaces this default: see lib.sh.
STOP_TIMEOUT="${STOP_TIMEOUT:-120}"
# ValidateService: docker health checks, VALIDATE_DELAY seconds apart, before the deployment fails
# (the model loads first: allow a few minutes).
VALIDATE_ATTEMPTS="${VALIDATE_ATTEMPTS:-60}"
VALIDATE_DELAY="${VALIDATE_DELAY:-5}"
