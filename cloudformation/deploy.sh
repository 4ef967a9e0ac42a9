#!/usr/bin/env bash
# Deploys the Polybot stacks in dependency order (network -> data -> app -> observability),
# or with --delete tears them down in reverse order. See docs/deploying.md.
set -euo pipefail
shopt -s inherit_errexit # a failing aws call inside $(...) stops the script too

usage() {
  cat <<'TXT'
usage: cloudformation/deploy.sh [options]          deploy or update every stack
       cloudformation/deploy.sh --delete [options] delete every stack, the pipeline first

options (each also read from the environment variable in brackets):
  --prefix NAME            resource and stack name prefix [PREFIX, default polybot]
  --region REGION          AWS region [AWS_REGION, default us-east-1]
  --certificate-arn ARN    ACM certificate for the HTTPS listener [CERTIFICATE_ARN]
  --domain-name NAME       webhook domain; issues an ACM certificate in-stack [DOMAIN_NAME]
  --hosted-zone-id ID      Route 53 hosted zone of the domain [HOSTED_ZONE_ID]
  --alarm-email ADDRESS    where alarms are mailed; confirm the subscription e-mail [ALARM_EMAIL]
  --polybot-instance-type TYPE
                           polybot's instance type: both fleets start on it, and the next
                           --roll blue|green moves that fleet to it [POLYBOT_INSTANCE_TYPE]
  --roll FLEET             move one fleet (blue, green or worker) to the newest Amazon Linux
                           2023 AMI, and a polybot fleet also to the newest launch template
                           version and PolybotInstanceType; roll the fleet that is not serving
                           (see "Rolling a new AMI" in docs/deploying.md)
  -h, --help               this text
Parameters left unset keep the value the stack already has: the AMIs and polybot's instance
types are pinned when the app stack is created, and change only with --roll.
Templates go through the deploy bucket <prefix>-deploy-<account>-<region>, made on first use.
TXT
}

# shellcheck source=cloudformation/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
certificate_arn=${CERTIFICATE_ARN:-}
domain_name=${DOMAIN_NAME:-}
hosted_zone_id=${HOSTED_ZONE_ID:-}
alarm_email=${ALARM_EMAIL:-}
polybot_instance_type=${POLYBOT_INSTANCE_TYPE:-}
roll=""
delete=false
# Amazon Linux 2023's current AMI, published by AWS as an SSM public parameter.
AMI_PARAMETER=/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64

while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --region) region=${2:?--region needs a value}; shift 2 ;;
    --certificate-arn) certificate_arn=${2:?--certificate-arn needs a value}; shift 2 ;;
    --domain-name) domain_name=${2:?--domain-name needs a value}; shift 2 ;;
    --hosted-zone-id) hosted_zone_id=${2:?--hosted-zone-id needs a value}; shift 2 ;;
    --alarm-email) alarm_email=${2:?--alarm-email needs a value}; shift 2 ;;
    --polybot-instance-type) polybot_instance_type=${2:?--polybot-instance-type needs a value}; shift 2 ;;
    --roll) roll=${2:?--roll needs a value}; shift 2 ;;
    --delete) delete=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ $prefix =~ ^[a-z][a-z0-9-]{1,19}$ ]] || die "--prefix must be 2-20 lowercase letters, digits or hyphens"
[[ -z $domain_name || -n $hosted_zone_id ]] || die "--domain-name needs --hosted-zone-id"
[[ -z $roll || $roll =~ ^(blue|green|worker)$ ]] || die "--roll takes blue, green or worker"
! { $delete && [[ -n $roll ]]; } || die "--roll and --delete do not go together"
[[ -z $polybot_instance_type || $polybot_instance_type =~ ^[a-z][a-z0-9-]*\.[a-z0-9]+$ ]] ||
  die "--polybot-instance-type takes an EC2 instance type, e.g. t3.micro"

network_stack="$prefix-network"
data_stack="$prefix-data"
app_stack="$prefix-app"
observability_stack="$prefix-observability"
pipeline_stack="$prefix-pipeline" # deployed by hand (docs/delivery.md) under this name
use_region

# deploy_stack NAME TEMPLATE [Key=Value ...]: create or update; unchanged stacks are fine.
# prepare_stack must have run for NAME first.
deploy_stack() {
  local name=$1 template=$2
  shift 2
  log "deploying $name ($template)"
  deploy_template "$name" "$template" --tags "Project=$prefix" \
    --parameter-overrides "Prefix=$prefix" "$@"
}

# prepare_stack NAME: leave NAME in a state `aws cloudformation deploy` can create or update.
# Never prompts, so that a run that stopped can simply be run again.
prepare_stack() {
  local name=$1 status
  status=$(stack_status "$name")
  case $status in
    "" | REVIEW_IN_PROGRESS) ;; # deploy creates it (for the CLI, a stack under review is new)
    ROLLBACK_COMPLETE)
      # A failed first create: nothing in it to keep, and it can only be deleted
      # ("Troubleshooting CloudFormation": a stack in ROLLBACK_COMPLETE cannot be updated).
      log "$name: its creation failed and was rolled back (ROLLBACK_COMPLETE); deleting it to create it again"
      aws cloudformation delete-stack --stack-name "$name"
      aws cloudformation wait stack-delete-complete --stack-name "$name"
      ;;
    *_FAILED) die "$name is $status: see its events, fix the cause, then run this again: $(console_link "$name")" ;;
    *_IN_PROGRESS) die "$name is $status: run this again when it has finished: $(console_link "$name")" ;;
    *) ;;
  esac
}

# stack_created NAME: the stack exists with resources (not absent, not only a change set).
stack_created() {
  local status
  status=$(stack_status "$1")
  [[ -n $status && $status != REVIEW_IN_PROGRESS ]]
}

stack_exists() {
  [[ -n $(stack_status "$1") ]]
}

delete_stack() {
  local name=$1
  if ! stack_exists "$name"; then
    log "$name: not deployed"
    return 0
  fi
  log "deleting $name"
  aws cloudformation delete-stack --stack-name "$name"
  aws cloudformation wait stack-delete-complete --stack-name "$name"
}

# A versioned bucket must lose every version and delete marker before CloudFormation can
# delete it.
empty_bucket() {
  local bucket=$1 batch
  aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 || return 0 # quiet: it prints {"BucketRegion": ...}
  log "emptying s3://$bucket (all versions)"
  # shellcheck disable=SC2016 # the backticks are JMESPath literals, not command substitution
  local query='{Objects: [Versions || `[]`, DeleteMarkers || `[]`][][].{Key: Key, VersionId: VersionId}, Quiet: `true`}'
  while :; do
    batch=$(aws s3api list-object-versions --bucket "$bucket" --max-keys 1000 --no-paginate \
      --query "$query" --output json)
    grep -q '"Key"' <<<"$batch" || break
    aws s3api delete-objects --bucket "$bucket" --delete "$batch" >/dev/null
  done
}

# empty_stack_bucket STACK OUTPUT: empty the bucket a stack names in an output, if it exists.
empty_stack_bucket() {
  local bucket
  stack_exists "$1" || return 0
  bucket=$(stack_output "$1" "$2")
  [[ -z $bucket || $bucket == None ]] || empty_bucket "$bucket"
}

teardown() {
  local imported_certificate=""
  # The pipeline stack imports the app stack's outputs, so it goes first. Its ECR
  # repositories delete their images themselves (EmptyOnDelete); its versioned artifact
  # bucket must be emptied here, or CloudFormation cannot delete it.
  empty_stack_bucket "$pipeline_stack" ArtifactBucketName
  delete_stack "$pipeline_stack"
  delete_stack "$observability_stack"
  if stack_exists "$app_stack"; then
    imported_certificate=$(stack_parameter "$app_stack" CertificateArn)
  fi
  delete_stack "$app_stack"
  # certificate.sh's artefacts: the imported certificate (free once the listener is gone)
  # and the public PEM in SSM.
  if is_imported_certificate "$imported_certificate"; then
    log "deleting imported certificate $imported_certificate"
    aws acm delete-certificate --certificate-arn "$imported_certificate"
  fi
  aws ssm delete-parameter --name "/$prefix/webhook-certificate" 2>/dev/null || true
  empty_stack_bucket "$data_stack" ImagesBucketName
  delete_bot_token_secret
  delete_stack "$data_stack"
  delete_stack "$network_stack"
  local bucket
  bucket=$(deploy_bucket_name)
  if aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    empty_bucket "$bucket"
    log "deleting the deploy bucket s3://$bucket"
    aws s3api delete-bucket --bucket "$bucket"
  fi
  log "all $prefix stacks deleted"
}

# CloudFormation deletes a secret with a recovery window, and until it ends the name cannot be
# used again: a redeploy under the same prefix would fail. Deleted now, without one.
delete_bot_token_secret() {
  local secret
  stack_exists "$data_stack" || return 0
  secret=$(stack_output "$data_stack" BotTokenSecretName)
  [[ -n $secret && $secret != None ]] || return 0
  aws secretsmanager describe-secret --secret-id "$secret" >/dev/null 2>&1 || return 0
  log "deleting the secret $secret now (no recovery window)"
  aws secretsmanager delete-secret --secret-id "$secret" --force-delete-without-recovery >/dev/null
}

latest_ami() {
  aws ssm get-parameter --name "$AMI_PARAMETER" --query Parameter.Value --output text
}

# deploy_app PARAM...: the app stack with its pins. A new stack starts every fleet on today's
# AMI and both polybot fleets on one instance type; an update keeps every pin (it replaces and
# stops no instance), except those of the fleet named by --roll.
deploy_app() {
  local ami type version
  if ! stack_created "$app_stack"; then
    ami=$(latest_ami)
    type=${polybot_instance_type:-$(template_default app.yaml PolybotInstanceType)}
    log "new app stack: every fleet starts on $ami, polybot on $type"
    deploy_stack "$app_stack" app.yaml "$@" "BlueImageId=$ami" "GreenImageId=$ami" \
      "WorkerImageId=$ami" "BlueInstanceType=$type" "GreenInstanceType=$type"
  elif [[ $roll == worker ]]; then
    ami=$(latest_ami)
    log "rolling the worker group to $ami"
    deploy_stack "$app_stack" app.yaml "$@" "WorkerImageId=$ami"
  elif [[ -n $roll ]]; then
    # Two updates: the first makes the launch template version this template describes (an
    # update that changes it adds a version), the second pins the fleet to that version. One
    # update would pin the version from before it.
    deploy_stack "$app_stack" app.yaml "$@"
    ami=$(latest_ami)
    version=$(aws ec2 describe-launch-templates --launch-template-names "$prefix-polybot" \
      --query 'LaunchTemplates[0].LatestVersionNumber' --output text)
    type=$(stack_parameter "$app_stack" PolybotInstanceType)
    log "rolling the $roll fleet to $ami, launch template version $version, $type"
    deploy_stack "$app_stack" app.yaml "$@" "${roll^}ImageId=$ami" \
      "${roll^}TemplateVersion=$version" "${roll^}InstanceType=$type"
  else
    deploy_stack "$app_stack" app.yaml "$@"
  fi
}

deploy() {
  local app_params=("NetworkStackName=$network_stack" "DataStackName=$data_stack")
  [[ -z $certificate_arn ]] || app_params+=("CertificateArn=$certificate_arn")
  [[ -z $domain_name ]] || app_params+=("DomainName=$domain_name" "HostedZoneId=$hosted_zone_id")
  [[ -z $polybot_instance_type ]] || app_params+=("PolybotInstanceType=$polybot_instance_type")
  local observability_params=("DataStackName=$data_stack" "AppStackName=$app_stack")
  [[ -z $alarm_email ]] || observability_params+=("AlarmEmail=$alarm_email")

  local stack
  for stack in "$network_stack" "$data_stack" "$app_stack" "$observability_stack"; do
    prepare_stack "$stack"
  done
  ensure_deploy_bucket
  deploy_stack "$network_stack" network.yaml
  deploy_stack "$data_stack" data.yaml
  deploy_app "${app_params[@]}"
  deploy_stack "$observability_stack" observability.yaml "${observability_params[@]}"

  log "webhook URL: $(stack_output "$app_stack" WebhookUrl)"
  if [[ -z $(stack_output "$app_stack" HttpsListenerArn) ]]; then
    log "no HTTPS listener yet: run cloudformation/certificate.sh --prefix $prefix --region $region (self-signed) or pass --domain-name"
  fi
  if [[ -n $alarm_email ]]; then
    log "AWS has mailed $alarm_email a subscription confirmation: no alarm reaches that address until"
    log "you choose \"Confirm subscription\" in it"
  fi
  log "put the bot token: aws secretsmanager put-secret-value --region $region --secret-id $(stack_output "$data_stack" BotTokenSecretName) ..."
}

if $delete; then teardown; else deploy; fi
