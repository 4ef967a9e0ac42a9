#!/usr/bin/env bash
# AfterInstall: pull the exact image this bundle pins.
set -euo pipefail
# shellcheck source=appspecs/yolo5/hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pull_image
