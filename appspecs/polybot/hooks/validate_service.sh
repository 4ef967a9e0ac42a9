#!/usr/bin/env bash
# ValidateService: polybot must answer /healthz, and with the commit of the image this bundle
# deployed, or the deployment fails (and rolls back).
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url="http://127.0.0.1:${SERVICE_PORT}/healthz"
log "waiting for ${url}"
if ! health="$(curl -fsS --max-time 5 --retry "$VALIDATE_ATTEMPTS" --retry-delay 1 \
  --retry-connrefused --retry-all-errors "$url")"; then
  docker logs --tail 50 "$SERVICE" >&2 || true
  die "${SERVICE} never became healthy at ${url}"
fi
# The image's tag is the commit it was built from (buildspecs/build.yml), and the image's
# APP_VERSION too: /healthz answers {"status": "ok", "version": "<commit>"}.
uri="$(image_uri)"
expected="${uri##*:}"
version="$(sed -n 's/.*"version" *: *"\([^"]*\)".*/\1/p' <<<"$health")"
if [[ "$version" != "$expected" ]]; then
  die "${SERVICE} at ${url} runs version '${version:-none}', not ${expected} (the image deployed)"
fi
log "${SERVICE} is healthy and runs ${version}"
