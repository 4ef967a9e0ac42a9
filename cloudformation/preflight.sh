# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# deploy.sh's checks: everything it needs, before it changes anything, each failure with its
# fix. Sourced by deploy.sh after lib.sh and stacks.sh.

# Service Quotas' code for "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
# the vCPUs all of the account's t3 and c6i instances share (Amazon EC2 service quotas).
VCPU_QUOTA_CODE=L-1216C47A

preflight() {
  command -v aws >/dev/null ||
    die "the AWS CLI is missing. fix: install v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)"
  if [[ -n $repository ]]; then
    # The CLI checks the service and option locally, with no request.
    aws codestar-connections create-connection --generate-cli-skeleton >/dev/null 2>&1 ||
      die "this AWS CLI has no codestar-connections commands. fix: install AWS CLI v2"
    command -v python3 >/dev/null || command -v jq >/dev/null ||
      die "python3 or jq is needed to edit the bot token's JSON. fix: install either"
    [[ -n $domain_name || -n $certificate_arn ]] || command -v openssl >/dev/null ||
      die "openssl is needed for the self-signed certificate. fix: install it, or pass --domain-name"
  fi
  log "region: $region (from $region_source)"
  local account
  account=$(aws sts get-caller-identity --query Account --output text 2>/dev/null) ||
    die "no usable AWS credentials. fix: aws configure (or aws sso login), or run this in AWS CloudShell"
  log "account: $account"
  check_vcpu_quota
  if [[ -n $repository ]]; then
    collect_token
    [[ -z $connection_arn ]] || connection_status >/dev/null ||
      die "no connection $connection_arn in $region. fix: pass a connection of this region, or leave --connection-arn out to have one created"
  fi
}

# The vCPUs the stacks run at most: both polybot fleets (two instances each) and the worker
# group at its maximum, against the account's quota.
check_vcpu_quota() {
  local blue green worker max
  if stack_created "$app_stack"; then
    blue=$(stack_parameter "$app_stack" BlueInstanceType)
    green=$(stack_parameter "$app_stack" GreenInstanceType)
    worker=$(stack_parameter "$app_stack" WorkerInstanceType)
    max=$(stack_parameter "$app_stack" WorkerMaxSize)
  else
    blue=${polybot_instance_type:-$(template_default app.yaml PolybotInstanceType)}
    green=$blue
    worker=$(template_default app.yaml WorkerInstanceType)
    max=$(template_default app.yaml WorkerMaxSize)
  fi
  # A stack made before the fleets' type pins has none: they run PolybotInstanceType.
  [[ $blue != None && -n $blue ]] || blue=$(stack_parameter "$app_stack" PolybotInstanceType)
  [[ $green != None && -n $green ]] || green=$blue
  local -A vcpus=()
  local types type count
  mapfile -t types < <(printf '%s\n' "$blue" "$green" "$worker" | sort -u)
  while read -r type count; do
    vcpus[$type]=$count
  done < <(aws ec2 describe-instance-types --instance-types "${types[@]}" \
    --query 'InstanceTypes[].[InstanceType, VCpuInfo.DefaultVCpus]' --output text)
  for type in "${types[@]}"; do
    [[ ${vcpus[$type]:-} =~ ^[0-9]+$ ]] || die "$type is not an EC2 instance type in $region"
  done
  [[ $max =~ ^[0-9]+$ ]] || die "the app stack's WorkerMaxSize is $max, not a number"
  local needed=$((2 * ${vcpus[$blue]} + 2 * ${vcpus[$green]} + max * ${vcpus[$worker]}))
  local quota
  if ! quota=$(aws service-quotas get-service-quota --service-code ec2 --quota-code "$VCPU_QUOTA_CODE" \
    --query Quota.Value --output text 2>/dev/null); then
    log "warning: could not read the EC2 vCPU quota ($VCPU_QUOTA_CODE); the stacks need $needed vCPUs"
    return 0
  fi
  quota=${quota%%.*}
  ((quota >= needed)) ||
    die "the stacks need $needed vCPUs of On-Demand Standard instances and the account's quota is $quota. fix: request at least $needed at https://$region.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/$VCPU_QUOTA_CODE"
  log "vCPUs: $needed needed at most, quota $quota"
}
