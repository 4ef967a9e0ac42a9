# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# shellcheck disable=SC2016 # backticks in the queries are JMESPath literals
# deploy.sh --status: will the demo work? A read-only report on one screen; each failing line
# is marked FAIL, and the exit status is 1 when there is one. Sourced after lib.sh and
# release.sh (for the token's secret and the JSON helpers).

status_failed=false
ok() { printf '  ok    %s\n' "$*"; }
info() { printf '  info  %s\n' "$*"; }
bad() {
  printf '  FAIL  %s\n' "$*"
  status_failed=true
}

# out STACK KEY: an output, "" when the stack or the output is missing.
out() {
  local value
  value=$(stack_output "$1" "$2" 2>/dev/null) || return 0
  [[ $value == None ]] || printf '%s\n' "$value"
}

status_stacks() {
  local stack status
  for stack in "$network_stack" "$data_stack" "$app_stack" "$observability_stack" "$pipeline_stack"; do
    status=$(stack_status "$stack")
    if [[ -z $status ]]; then
      bad "stack $stack: not deployed"
    elif [[ $status == *_COMPLETE && $status != ROLLBACK_COMPLETE && $status != DELETE_COMPLETE ]]; then
      ok "stack $stack: $status"
    else
      bad "stack $stack: $status ($(console_link "$stack"))"
    fi
  done
}

# Telegram's view of the webhook, with the token from the secret. The token reaches curl in
# its config on stdin (-K -), never in its argv; TELEGRAM_API_URL is polybot's own setting.
status_webhook() {
  make_workdir
  if ! read_secret "$workdir/secret.json"; then
    bad "webhook: the bot token's secret cannot be read"
    return 0
  fi
  local token api=${TELEGRAM_API_URL:-https://api.telegram.org} info="$workdir/webhook.json"
  token=$(json_path TELEGRAM_TOKEN <"$workdir/secret.json")
  rm -f "$workdir/secret.json"
  if ! [[ $token =~ $BOT_TOKEN_PATTERN ]]; then
    bad "webhook: no bot token stored (deploy.sh --repository ... --token-stdin)"
    return 0
  fi
  if ! printf 'url = "%s/bot%s/getWebhookInfo"\n' "${api%/}" "$token" |
    curl -sS --max-time 15 -K - -o "$info" 2>/dev/null; then
    bad "webhook: Telegram's Bot API at $api cannot be reached"
    return 0
  fi
  if [[ $(json_path ok <"$info") != true ]]; then
    bad "webhook: Telegram refused the stored token ($(json_path description <"$info"))"
    return 0
  fi
  local url wanted pending certificate error_date error now
  url=$(json_path result.url <"$info")
  wanted=$(out "$app_stack" WebhookUrl)
  pending=$(json_path result.pending_update_count <"$info")
  certificate=$(json_path result.has_custom_certificate <"$info")
  error_date=$(json_path result.last_error_date <"$info")
  error=$(json_path result.last_error_message <"$info")
  if [[ -n $url && $url == "$wanted" ]]; then
    ok "webhook: $url (custom certificate: ${certificate:-false}, $pending pending)"
  else
    bad "webhook: Telegram has '${url:-none}', the app stack says '${wanted:-none}' (release polybot to register it)"
  fi
  now=$(date +%s)
  if [[ -n $error_date ]] && ((now - error_date < 600)); then
    bad "webhook: Telegram's last delivery failed $(((now - error_date) / 60)) min ago: $error"
  elif [[ -n $error_date ]]; then
    info "webhook: last delivery error $(((now - error_date) / 60)) min ago: $error"
  fi
}

status_workers() {
  local group desired max in_service cpu hooks
  group=$(out "$app_stack" WorkerAutoScalingGroupName)
  [[ -n $group ]] || { bad "workers: no app stack"; return 0; }
  read -r desired max in_service < <(aws autoscaling describe-auto-scaling-groups \
    --auto-scaling-group-names "$group" --output text --query \
    'AutoScalingGroups[0].[DesiredCapacity, MaxSize, length(Instances[?LifecycleState==`InService`])]' 2>/dev/null || echo "? ? 0")
  cpu=$(aws cloudwatch get-metric-statistics --namespace AWS/EC2 --metric-name CPUUtilization \
    --dimensions "Name=AutoScalingGroupName,Value=$group" --statistics Average --period 300 \
    --start-time "$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v-10M +%Y-%m-%dT%H:%M:%SZ)" \
    --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --query 'max_by(Datapoints, &Timestamp).Average' \
    --output text 2>/dev/null) || cpu=""
  [[ $cpu =~ ^[0-9.]+$ ]] && cpu="${cpu%%.*} %" || cpu="no data"
  if [[ $in_service =~ ^[0-9]+$ && $desired =~ ^[0-9]+$ ]] && ((in_service >= desired)); then
    ok "workers: $in_service in service of $desired desired (max $max), CPU $cpu"
  else
    bad "workers: $in_service in service of $desired desired (max $max), CPU $cpu"
  fi
  hooks=$(aws autoscaling describe-lifecycle-hooks --auto-scaling-group-name "$group" \
    --query 'LifecycleHooks[].LifecycleHookName' --output text 2>/dev/null) || hooks=""
  if [[ $hooks == *CodeDeploy-managed-automatic-launch-deployment-hook* ]]; then
    ok "launch hook: CodeDeploy's is on $group"
  else
    bad "launch hook: CodeDeploy's is missing on $group (docs/deploying.md, after a --roll worker)"
  fi
}

queue_depth() { # queue_depth URL
  aws sqs get-queue-attributes --queue-url "$1" --attribute-names ApproximateNumberOfMessages \
    --query Attributes.ApproximateNumberOfMessages --output text 2>/dev/null || echo "?"
}

status_queues() {
  local jobs dead depth
  jobs=$(out "$data_stack" JobsQueueUrl)
  dead=$(out "$data_stack" DeadLetterQueueUrl)
  [[ -n $jobs && -n $dead ]] || { bad "queues: no data stack"; return 0; }
  info "jobs queue: $(queue_depth "$jobs") waiting"
  depth=$(queue_depth "$dead")
  if [[ $depth == 0 ]]; then ok "dead-letter queue: empty"; else bad "dead-letter queue: $depth job(s) (a user got no answer)"; fi
}

status_pipeline() {
  local pipeline last status commit stages
  pipeline=$(out "$pipeline_stack" PipelineName)
  [[ -n $pipeline ]] || { bad "pipeline: not deployed"; return 0; }
  last=$(aws codepipeline list-pipeline-executions --pipeline-name "$pipeline" --max-items 1 \
    --query 'pipelineExecutionSummaries[0].[status, sourceRevisions[0].revisionId]' --output text 2>/dev/null) || last=""
  read -r status commit <<<"$last"
  stages=$(aws codepipeline get-pipeline-state --name "$pipeline" --output text \
    --query 'stageStates[].join(`:`, [stageName, latestExecution.status || `-`])' 2>/dev/null | tr '\t' ' ') || stages=""
  case ${status:-None} in
    None) info "last pipeline run: none yet" ;;
    Failed | Stopped | Cancelled) bad "last pipeline run: $status (commit ${commit:0:7}; $stages)" ;;
    *) ok "last pipeline run: $status (commit ${commit:0:7}; $stages)" ;;
  esac
}

status_alarms() {
  local email topic pending
  email=$(stack_parameter "$observability_stack" AlarmEmail 2>/dev/null) || email=""
  [[ -n $email && $email != None ]] || { info "alarm e-mail: none given"; return 0; }
  topic=$(out "$observability_stack" AlarmTopicArn)
  pending=$(aws sns list-subscriptions-by-topic --topic-arn "$topic" \
    --query "length(Subscriptions[?SubscriptionArn=='PendingConfirmation'])" --output text 2>/dev/null) || pending="?"
  if [[ $pending == 0 ]]; then ok "alarm e-mail: $email confirmed"; else bad "alarm e-mail: $email not confirmed yet (the link in AWS's e-mail)"; fi
}

status_report() {
  printf '%s in %s, %s\n' "$prefix" "$region" "$(date -u '+%Y-%m-%d %H:%M UTC')"
  status_stacks
  status_webhook
  status_fleets
  status_workers
  status_queues
  status_pipeline
  status_alarms
  local console="https://$region.console.aws.amazon.com"
  info "dashboard: $console/cloudwatch/home?region=$region#dashboards/dashboard/$prefix-overview"
  info "pipeline: $console/codesuite/codepipeline/pipelines/$pipeline_stack/view?region=$region"
  info "deployments: $console/codesuite/codedeploy/deployments?region=$region"
  if $status_failed; then
    printf 'not ready: fix the FAIL lines above\n'
    return 1
  fi
  printf 'ready for the demo\n'
}
