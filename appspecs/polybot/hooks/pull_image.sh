#!/usr/bin/env bash
# AfterInstall: pull the exact image this bundle pins.
set -euo pipefail
# shellcheck source=appspecs/polybot/hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pull_image
