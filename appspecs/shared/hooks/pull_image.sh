#!/usr/bin/env bash
# AfterInstall: pull the exact image this bundle pins.
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pull_image
