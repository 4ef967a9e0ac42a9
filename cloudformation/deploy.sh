#!/usr/bin/env bash
# One command from a clone to a running pipeline: checks what it needs, deploys the stacks in
# dependency order (network -> data -> app -> observability), and with --repository also the
# certificate, the bot token, the GitHub connection and the pipeline. --delete tears it all
# down; --roll moves one fleet to a new AMI. See docs/deploying.md.

# bash >= 4.4, checked in POSIX sh before any bash-only syntax: macOS ships bash 3.2, and
# `sh deploy.sh` runs dash, where the rest of this file would fail in obscure ways.
case ${BASH_VERSION:-} in
  4.[4-9]* | 4.[1-9][0-9]* | [5-9].* | [1-9][0-9]*.*) ;;
  *)
    echo "deploy.sh: needs bash 4.4 or newer, and this is ${BASH_VERSION:-not bash}." >&2
    echo "  fix: on macOS, brew install bash, then run \"\$(brew --prefix)/bin/bash\" cloudformation/deploy.sh ...;" >&2
    echo "  or run it in AWS CloudShell, which has a current bash." >&2
    exit 2
    ;;
esac

set -euo pipefail
shopt -s inherit_errexit # a failing aws call inside $(...) stops the script too

usage() {
  cat <<'TXT'
usage: cloudformation/deploy.sh [options]          deploy or update every stack
       cloudformation/deploy.sh --delete [options] delete everything deploy.sh made

options (each also read from the environment variable in brackets):
  --prefix NAME            resource and stack name prefix [PREFIX, default polybot]
  --region REGION          AWS region [AWS_REGION, default us-east-1]
  --repository OWNER/REPO  your GitHub fork: also make the certificate, store the bot token,
                           connect GitHub and deploy the pipeline [REPOSITORY]
  --branch NAME            the branch the pipeline releases [BRANCH, default main]
  --connection-arn ARN     an existing GitHub connection; without it one is created (and
                           waited for until you finish its one-time handshake) [CONNECTION_ARN]
  --token-stdin            read the bot token from stdin and store it, replacing the one
                           stored; without it a stored token is kept, and a missing one is
                           asked for on the terminal
  --certificate-arn ARN    ACM certificate for the HTTPS listener [CERTIFICATE_ARN]
  --domain-name NAME       webhook domain; issues an ACM certificate in-stack [DOMAIN_NAME]
  --hosted-zone-id ID      Route 53 hosted zone of the domain [HOSTED_ZONE_ID]; without it
                           (the zone is in another account) --certificate-arn is needed, and
                           the script prints the record to create there
  --alarm-email ADDRESS    where alarms are mailed; confirm the subscription e-mail [ALARM_EMAIL]
  --polybot-instance-type TYPE
                           polybot's instance type: both fleets start on it, and the next
                           --roll blue|green moves that fleet to it [POLYBOT_INSTANCE_TYPE]
  --roll FLEET             move one fleet (blue, green or worker) to the newest Amazon Linux
                           2023 AMI, and a polybot fleet also to the newest launch template
                           version and PolybotInstanceType; roll the fleet that is not serving
                           (see "Rolling a new AMI" in docs/deploying.md)
  --status                 read-only: will the demo work? Stacks, webhook, fleets, workers,
                           queues, the last pipeline run; exit 0 only when all is well
  --delete                 delete the pipeline, the stacks, the deploy bucket and the
                           connection deploy.sh created
  -h, --help               this text
Parameters left unset keep the value the stack already has: the AMIs and polybot's instance
types are pinned when the app stack is created, and change only with --roll.
Templates go through the deploy bucket <prefix>-deploy-<account>-<region>, made on first use.
Run it again after any failure: it resumes, and a run with nothing to do changes nothing.
TXT
}

lib_dir="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=cloudformation/lib.sh
source "$lib_dir/lib.sh"
# shellcheck source=cloudformation/stacks.sh
source "$lib_dir/stacks.sh"
# shellcheck source=cloudformation/preflight.sh
source "$lib_dir/preflight.sh"
# shellcheck source=cloudformation/release.sh
source "$lib_dir/release.sh"
# shellcheck source=cloudformation/teardown.sh
source "$lib_dir/teardown.sh"
# shellcheck source=cloudformation/status.sh
source "$lib_dir/status.sh"
# shellcheck source=cloudformation/fleets.sh
source "$lib_dir/fleets.sh"

certificate_arn=${CERTIFICATE_ARN:-}
domain_name=${DOMAIN_NAME:-}
hosted_zone_id=${HOSTED_ZONE_ID:-}
alarm_email=${ALARM_EMAIL:-}
polybot_instance_type=${POLYBOT_INSTANCE_TYPE:-}
repository=${REPOSITORY:-}
branch=${BRANCH:-main}
connection_arn=${CONNECTION_ARN:-}
token_stdin=false
roll=""
delete=false
status=false
region_source=${AWS_REGION:+AWS_REGION}
region_source=${region_source:-the default}

while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --region) region=${2:?--region needs a value}; region_source=--region; shift 2 ;;
    --repository) repository=${2:?--repository needs a value}; shift 2 ;;
    --branch) branch=${2:?--branch needs a value}; shift 2 ;;
    --connection-arn) connection_arn=${2:?--connection-arn needs a value}; shift 2 ;;
    --token-stdin) token_stdin=true; shift ;;
    --certificate-arn) certificate_arn=${2:?--certificate-arn needs a value}; shift 2 ;;
    --domain-name) domain_name=${2:?--domain-name needs a value}; shift 2 ;;
    --hosted-zone-id) hosted_zone_id=${2:?--hosted-zone-id needs a value}; shift 2 ;;
    --alarm-email) alarm_email=${2:?--alarm-email needs a value}; shift 2 ;;
    --polybot-instance-type) polybot_instance_type=${2:?--polybot-instance-type needs a value}; shift 2 ;;
    --roll) roll=${2:?--roll needs a value}; shift 2 ;;
    --delete) delete=true; shift ;;
    --status) status=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ $prefix =~ ^[a-z][a-z0-9-]{1,19}$ ]] || die "--prefix must be 2-20 lowercase letters, digits or hyphens"
[[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "--region must be a region name, e.g. eu-west-1"
[[ -z $domain_name || -n $hosted_zone_id || -n $certificate_arn ]] ||
  die "--domain-name needs --hosted-zone-id, or --certificate-arn when its zone is in another account"
[[ -z $hosted_zone_id || -n $domain_name ]] || die "--hosted-zone-id goes with --domain-name"
[[ -z $roll || $roll =~ ^(blue|green|worker)$ ]] || die "--roll takes blue, green or worker"
! { $delete && [[ -n $roll ]]; } || die "--roll and --delete do not go together"
! { $status && { $delete || [[ -n $roll ]]; }; } || die "--status goes alone: it only reads"
[[ -z $polybot_instance_type || $polybot_instance_type =~ ^[a-z][a-z0-9-]*\.[a-z0-9]+$ ]] ||
  die "--polybot-instance-type takes an EC2 instance type, e.g. t3.micro"
[[ -z $repository || $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] ||
  die "--repository takes OWNER/REPO, e.g. octocat/polybot"
[[ $branch =~ ^[A-Za-z0-9._/-]+$ ]] || die "--branch takes a branch name"
{ [[ -n $repository ]] || ! $token_stdin; } || die "--token-stdin goes with --repository"

network_stack="$prefix-network"
data_stack="$prefix-data"
app_stack="$prefix-app"
observability_stack="$prefix-observability"
pipeline_stack="$prefix-pipeline"
use_region

deploy() {
  preflight
  deploy_infrastructure
  if [[ -z $repository ]]; then
    log "infrastructure done. Add --repository OWNER/REPO (your fork) to also make the certificate,"
    log "store the bot token, connect GitHub and deploy the pipeline"
    return 0
  fi
  # CodePipeline starts its first execution when the stack is created: the certificate and
  # the token must be in place before, or that release registers no webhook.
  ensure_certificate
  store_token
  ensure_connection
  deploy_pipeline
  report_release
}

if $status; then
  status_report
elif $delete; then
  teardown
else
  deploy
fi
