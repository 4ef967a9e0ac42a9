# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# deploy.sh's infrastructure step: the network, data, app and observability stacks, in the
# order their exports need, with the app stack's pins. Sourced by deploy.sh after lib.sh.

# Amazon Linux 2023's current AMI, published by AWS as an SSM public parameter.
AMI_PARAMETER=/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64

# deploy_stack NAME TEMPLATE [Key=Value ...]: create or update; unchanged stacks are fine.
# prepare_stack must have run for NAME first.
deploy_stack() {
  local name=$1 template=$2
  shift 2
  log "deploying $name ($template)"
  deploy_template "$name" "$template" --tags "Project=$prefix" \
    --parameter-overrides "Prefix=$prefix" "$@"
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

deploy_infrastructure() {
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
  if [[ -n $domain_name && -z $hosted_zone_id ]]; then
    log "the zone of $domain_name is not in this account: create this record in it (docs/demo.md,"
    log "\"A subdomain of a domain in another account\"): $domain_name CNAME $(stack_output "$app_stack" PublicLoadBalancerDnsName)"
  fi
  if [[ -n $alarm_email ]]; then
    log "AWS has mailed $alarm_email a subscription confirmation: no alarm reaches that address until"
    log "you choose \"Confirm subscription\" in it"
  fi
}
