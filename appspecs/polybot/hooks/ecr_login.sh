#!/usr/bin/env bash
# BeforeInstall: log docker in to ECR with the instance role (no stored credentials).
set -euo pipefail
# shellcheck source=appspecs/polybot/hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ecr_login
