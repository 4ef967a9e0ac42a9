#!/usr/bin/env bash
# Sourced by every hook of every service: the service's settings.sh first, then the shared
# settings, log/die and the shared steps. In a bundle (appspecs/bundle.sh) both files sit
# side by side in hooks/; each setting can be overridden from the environment (the test
# harness does).

# settings.sh differs per service (appspecs/<service>/hooks/settings.sh, linted on its own).
# shellcheck source=/dev/null
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
: "${SERVICE:?settings.sh must set SERVICE}" "${STOP_TIMEOUT:?settings.sh must set STOP_TIMEOUT}"

# Runtime configuration written by the instance's user data (no secret in it: only the secret's id).
SERVICE_ENV_FILE="${SERVICE_ENV_FILE:-/etc/polybot/${SERVICE}.env}"
# A STOP_TIMEOUT there wins over settings.sh's: yolo5's user data writes the queue's visibility
# timeout, so the stack's one number reaches the hooks (cloudformation/app.yaml).
if [[ -r "$SERVICE_ENV_FILE" ]]; then
  env_stop_timeout="$(sed -n 's/^STOP_TIMEOUT=\([0-9][0-9]*\)$/\1/p' "$SERVICE_ENV_FILE" | tail -n 1)"
  STOP_TIMEOUT="${env_stop_timeout:-$STOP_TIMEOUT}"
fi
# The bundle's root (CodeDeploy runs hooks from the unpacked bundle).
BUNDLE_DIR="${BUNDLE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# Written by the build: IMAGE_URI=<registry>/<repo>:<commit sha>, the only image this bundle runs.
IMAGE_ENV_FILE="${IMAGE_ENV_FILE:-${BUNDLE_DIR}/image.env}"
# IMDSv2 endpoint (overridable only for tests).
IMDS_URL="${IMDS_URL:-http://169.254.169.254}"

log() { printf '%s [%s %s] %s\n' "$(date -u +%FT%TZ)" "${LIFECYCLE_EVENT:-manual}" "${DEPLOYMENT_ID:--}" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# The pinned image of this bundle; a floating tag never reaches an instance.
image_uri() {
  [[ -r "$IMAGE_ENV_FILE" ]] || die "image env file $IMAGE_ENV_FILE is missing"
  local uri
  uri="$(sed -n 's/^IMAGE_URI=//p' "$IMAGE_ENV_FILE" | tail -n 1)"
  [[ -n "$uri" ]] || die "IMAGE_URI is not set in $IMAGE_ENV_FILE"
  [[ "$uri" == *.dkr.ecr.*.amazonaws.com/* ]] || die "IMAGE_URI $uri is not an ECR image"
  [[ "$uri" != *:latest ]] || die "IMAGE_URI $uri uses the floating tag latest"
  printf '%s\n' "$uri"
}

# The instance's region, from IMDSv2 (a session token first, then the metadata).
instance_region() {
  local token
  token="$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "${IMDS_URL}/latest/api/token")" ||
    die "IMDSv2 token request failed"
  curl -fsS -H "X-aws-ec2-metadata-token: ${token}" "${IMDS_URL}/latest/meta-data/placement/region" ||
    die "IMDSv2 region lookup failed"
}

# Log docker in to the image's ECR registry with the instance role; the password goes by stdin.
ecr_login() {
  local uri registry region
  uri="$(image_uri)"
  registry="${uri%%/*}"
  region="$(instance_region)"
  if [[ "$registry" != *".dkr.ecr.${region}.amazonaws.com" ]]; then
    # A registry in another region: log in to that region's ECR instead.
    region="$(cut -d . -f 4 <<<"$registry")"
    log "image registry is in ${region}, not in the instance's region"
  fi
  log "logging in to ${registry} (${region})"
  aws ecr get-login-password --region "$region" |
    docker login --username AWS --password-stdin "$registry" >/dev/null ||
    die "ECR login to ${registry} failed"
}

pull_image() {
  local uri
  uri="$(image_uri)"
  log "pulling ${uri}"
  docker pull --quiet "$uri" >/dev/null || die "docker pull ${uri} failed"
}

container_exists() { docker inspect --type container "$SERVICE" >/dev/null 2>&1; }

# Graceful stop (SIGTERM, then STOP_TIMEOUT seconds), then remove; a no-op when nothing runs.
stop_container() {
  if ! container_exists; then
    log "no ${SERVICE} container: nothing to stop"
    return 0
  fi
  log "stopping ${SERVICE} (up to ${STOP_TIMEOUT}s)"
  docker stop --time "$STOP_TIMEOUT" "$SERVICE" >/dev/null || log "docker stop ${SERVICE} failed; removing it"
  docker rm --force "$SERVICE" >/dev/null || die "cannot remove container ${SERVICE}"
}

require_env_file() {
  [[ -r "$SERVICE_ENV_FILE" ]] || die "runtime config ${SERVICE_ENV_FILE} is missing (instance user data writes it)"
}
