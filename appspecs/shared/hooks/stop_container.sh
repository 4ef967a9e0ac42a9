#!/usr/bin/env bash
# ApplicationStop: stop the running container gracefully; how long it gets to finish its
# work (in-flight webhooks, the job in hand) is the service's STOP_TIMEOUT in settings.sh.
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_container
