#!/usr/bin/env bash
# ApplicationStart: run the worker; restarts with the instance. Logs ship through the app's
# watchtower (LOG_GROUP in the env file), so docker keeps only a small local rotation.
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env_file
uri="$(image_uri)"
stop_container # a rerun finds the container of the previous attempt
log "starting ${SERVICE} from ${uri}"
docker run --detach --name "$SERVICE" --restart unless-stopped \
  --env-file "$SERVICE_ENV_FILE" \
  --stop-timeout "$STOP_TIMEOUT" \
  --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 \
  "$uri" >/dev/null || die "docker run ${uri} failed"
