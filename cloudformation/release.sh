# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# deploy.sh --repository's steps after the stacks: the certificate, the bot token, the GitHub
# connection and the pipeline stack. Sourced by deploy.sh after lib.sh.
#
# The bot token never appears in output or a log, nor in the argv of a process started here:
# it stays in a variable, reaches python3 or jq on stdin and the AWS CLI in a 0600 file.

BOT_TOKEN_PATTERN='^[0-9]{5,}:[A-Za-z0-9_-]{30,}$' # @BotFather's "123456789:AA..." form
token=""

# make_workdir: a private temporary directory for this run ($workdir), removed at exit.
make_workdir() {
  [[ -z ${workdir:-} ]] || return 0
  umask 077
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
}

# json_path PATH: the value at a dotted PATH of the JSON document on stdin, "" when absent.
json_path() {
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    v = v.get(key) if isinstance(v, dict) else None
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1"
  else
    jq -r --arg path "$1" 'getpath($path | split(".")) | if . == null then "" else tostring end'
  fi
}


# with_token FILE: FILE's JSON object with TELEGRAM_TOKEN set to the line on stdin.
with_token() {
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["TELEGRAM_TOKEN"] = sys.stdin.readline().strip()
print(json.dumps(d))' "$1"
  else
    jq -c -R --slurpfile current "$1" '$current[0] + {TELEGRAM_TOKEN: .}'
  fi
}

# read_secret FILE: the bot token secret's JSON into FILE; fails when there is none yet.
read_secret() {
  local secret
  stack_created "$data_stack" || return 1
  secret=$(stack_output "$data_stack" BotTokenSecretName)
  aws secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text \
    >"$1" 2>/dev/null
}

token_stored() {
  make_workdir
  read_secret "$workdir/secret.json" || return 1
  [[ $(json_path TELEGRAM_TOKEN <"$workdir/secret.json") =~ $BOT_TOKEN_PATTERN ]]
}

# collect_token: the token to store, from stdin (--token-stdin) or, when none is stored yet,
# from the terminal; before anything changes, so that a missing token stops nothing halfway.
collect_token() {
  if $token_stdin; then
    IFS= read -r token || true
    token=${token//[[:space:]]/}
    [[ $token =~ $BOT_TOKEN_PATTERN ]] ||
      die "stdin holds no bot token. fix: pipe the token @BotFather gave you (123456789:AA...)"
    log "bot token: read from stdin; it replaces the stored one"
  elif token_stored; then
    log "bot token: stored (kept)"
  elif [[ -t 0 ]]; then
    read -rsp "Bot token from @BotFather (not shown): " token
    printf '\n' >&2
    token=${token//[[:space:]]/}
    [[ $token =~ $BOT_TOKEN_PATTERN ]] || die "that is not a bot token (123456789:AA...)"
  else
    die "no bot token stored yet and no terminal to ask on. fix: pass it on stdin with --token-stdin"
  fi
}

store_token() {
  [[ -n $token ]] || return 0
  local secret
  make_workdir
  secret=$(stack_output "$data_stack" BotTokenSecretName)
  read_secret "$workdir/secret.json" || die "cannot read the secret $secret"
  with_token "$workdir/secret.json" <<<"$token" >"$workdir/secret.new.json"
  aws secretsmanager put-secret-value --secret-id "$secret" \
    --secret-string "file://$workdir/secret.new.json" >/dev/null
  rm -f "$workdir/secret.json" "$workdir/secret.new.json"
  log "bot token stored in $secret (its WEBHOOK_SECRET kept)"
  if stack_created "$pipeline_stack"; then
    # polybot reads the token and registers the webhook when it starts.
    log "polybot uses it from its next release, which registers the webhook with it:"
    log "  aws codepipeline start-pipeline-execution --region $region --name $pipeline_stack"
  fi
}

# ensure_certificate: the self-signed certificate, when no domain or certificate was given and
# the public load balancer has no HTTPS listener yet.
ensure_certificate() {
  [[ -z $domain_name && -z $certificate_arn ]] || return 0
  local listener
  listener=$(stack_output "$app_stack" HttpsListenerArn)
  if [[ -n $listener && $listener != None ]]; then
    log "certificate: the HTTPS listener has one (renew: cloudformation/certificate.sh --prefix $prefix --region $region)"
    return 0
  fi
  log "certificate: making the self-signed one (cloudformation/certificate.sh)"
  bash "$here/certificate.sh" --prefix "$prefix" --region "$region"
}

connection_name() { printf '%s-github\n' "$prefix"; }

connections_link() {
  printf 'https://%s.console.aws.amazon.com/codesuite/settings/connections?region=%s\n' "$region" "$region"
}

# find_connection: the ARN of the connection deploy.sh names for this prefix, or nothing.
find_connection() {
  local arn
  arn=$(aws codestar-connections list-connections --provider-type-filter GitHub \
    --query "Connections[?ConnectionName=='$(connection_name)'].ConnectionArn | [0]" --output text)
  [[ $arn == None ]] || printf '%s\n' "$arn"
}

connection_status() {
  aws codestar-connections get-connection --connection-arn "$connection_arn" \
    --query Connection.ConnectionStatus --output text
}

# ensure_connection: the GitHub connection, created when none was given (tagged, so that
# --delete removes only what deploy.sh made), then waited for until the one-time handshake
# in the console makes it AVAILABLE.
ensure_connection() {
  if [[ -z $connection_arn ]]; then
    connection_arn=$(find_connection)
    if [[ -z $connection_arn ]]; then
      connection_arn=$(aws codestar-connections create-connection --provider-type GitHub \
        --connection-name "$(connection_name)" \
        --tags "Key=Project,Value=$prefix" "Key=ManagedBy,Value=deploy.sh" \
        --query ConnectionArn --output text)
      log "created the GitHub connection $(connection_name): $connection_arn"
    fi
  fi
  local status waited=0
  local limit=${CONNECTION_WAIT_SECONDS:-900} every=${CONNECTION_POLL_SECONDS:-10}
  status=$(connection_status)
  if [[ $status == PENDING ]]; then
    log "GitHub connection: PENDING. Finish its one-time handshake now: open $(connections_link),"
    log "  choose $(connection_name) > Update pending connection, and install the AWS Connector"
    log "  for GitHub app on $repository. Waiting up to ${limit}s..."
  fi
  while [[ $status == PENDING ]] && ((waited < limit)); do
    sleep "$every"
    waited=$((waited + every))
    status=$(connection_status)
  done
  case $status in
    AVAILABLE) log "GitHub connection: AVAILABLE ($connection_arn)" ;;
    PENDING) die "the GitHub connection is still PENDING. fix: finish the handshake at $(connections_link), then run the same command again: it resumes here" ;;
    *) die "the GitHub connection $connection_arn is $status. fix: delete it at $(connections_link) and run again" ;;
  esac
}

# deploy_pipeline: the custom resource's Lambda packaged into the deploy bucket (Lambda takes
# code only from a bucket in its region: Code.S3Bucket), then the pipeline stack.
deploy_pipeline() {
  prepare_stack "$pipeline_stack"
  make_workdir
  log "packaging the deployment group Lambda (delivery/) into s3://$deploy_bucket"
  aws cloudformation package --template-file "$here/pipeline.yaml" --s3-bucket "$deploy_bucket" \
    --s3-prefix lambda --output-template-file "$workdir/pipeline.packaged.yaml" >/dev/null
  deploy_stack "$pipeline_stack" "$workdir/pipeline.packaged.yaml" \
    "ConnectionArn=$connection_arn" "FullRepositoryId=$repository" "BranchName=$branch" \
    "AppStackName=$app_stack"
}

report_release() {
  local pipeline="https://$region.console.aws.amazon.com/codesuite/codepipeline/pipelines/$pipeline_stack/view?region=$region"
  log "done. The pipeline releases $repository@$branch: the first run builds both images and"
  log "deploys them (docs/delivery.md gives its timings). Follow it at $pipeline"
  log "  or: aws codepipeline get-pipeline-state --region $region --name $pipeline_stack --query 'stageStates[].[stageName,latestExecution.status]' --output table"
  log "when Deploy is green, send your bot a photo in Telegram: it answers with what it found."
}
