#!/usr/bin/env bash
# polybot's settings, sourced first by hooks/lib.sh (appspecs/shared/hooks/lib.sh).
# Each setting can be overridden from the environment (the test harness does).

# The container's name; stop, start and validate all find it by this name.
SERVICE="${SERVICE:-polybot}"
# Seconds docker waits after SIGTERM before SIGKILL: gunicorn finishes in-flight webhooks.
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"
# Host port = container port; the ALB target groups health-check /healthz on it.
SERVICE_PORT="${SERVICE_PORT:-8443}"
# ValidateService: curl retries (1s apart, 5s each at most) before the deployment fails.
VALIDATE_ATTEMPTS="${VALIDATE_ATTEMPTS:-45}"
