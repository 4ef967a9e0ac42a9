#!/usr/bin/env bash
# BeforeInstall: log docker in to ECR with the instance role (no stored credentials).
set -euo pipefail
# shellcheck source=appspecs/shared/hooks/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ecr_login
