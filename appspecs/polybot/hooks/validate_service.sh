#!/usr/bin/env bash
# ValidateService: polybot must answer /healthz, or the deployment fails (and rolls back).
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url="http://127.0.0.1:${SERVICE_PORT}/healthz"
log "waiting for ${url}"
if ! curl -fsS --max-time 5 --retry "$VALIDATE_ATTEMPTS" --retry-delay 1 --retry-connrefused \
  --retry-all-errors "$url" >/dev/null; then
  docker logs --tail 50 "$SERVICE" >&2 || true
  die "${SERVICE} never became healthy at ${url}"
fi
log "${SERVICE} is healthy"
