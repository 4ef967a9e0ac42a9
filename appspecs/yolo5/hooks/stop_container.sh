#!/usr/bin/env bash
# ApplicationStop: stop the worker gracefully; it finishes the job in hand (drain) first.
set -euo pipefail
# shellcheck source=appspecs/yolo5/hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stop_container
