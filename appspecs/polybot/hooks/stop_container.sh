#!/usr/bin/env bash
# ApplicationStop: stop the running polybot gracefully so gunicorn answers in-flight requests.
set -euo pipefail
# shellcheck source=appspecs/polybot/hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop_container
