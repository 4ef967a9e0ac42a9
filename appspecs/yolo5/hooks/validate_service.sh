#!/usr/bin/env bash
# ValidateService: the image's HEALTHCHECK (python -m yolo5.healthcheck) must report healthy,
# or the deployment fails and CodeDeploy rolls the instance back.
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

status=missing
for ((attempt = 1; attempt <= VALIDATE_ATTEMPTS; attempt++)); do
  status="$(docker inspect --type container --format '{{.State.Health.Status}}' "$SERVICE" 2>/dev/null || echo missing)"
  if [[ "$status" == healthy ]]; then
    log "${SERVICE} is healthy"
    exit 0
  fi
  log "${SERVICE} health: ${status} (${attempt}/${VALIDATE_ATTEMPTS})"
  sleep "$VALIDATE_DELAY"
done
docker logs --tail 50 "$SERVICE" >&2 || true
die "${SERVICE} never became healthy (last: ${status})"
