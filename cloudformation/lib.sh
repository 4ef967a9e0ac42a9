# shellcheck shell=bash
# What cloudformation/deploy.sh and certificate.sh share; both source it.
# Not a script of its own: it only defines, and sets the defaults of the options both take.

log() { printf '>> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# The templates' directory, and the options both scripts take: --prefix and --region, each
# defaulting to the environment ([PREFIX], [AWS_REGION]).
# shellcheck disable=SC2034 # used by the scripts that source this file
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034
prefix=${PREFIX:-polybot}
region=${AWS_REGION:-us-east-1}

# use_region: every aws call from here on goes to $region.
use_region() { export AWS_REGION=$region AWS_DEFAULT_REGION=$region; }

# stack_status STACK: the stack's status, or nothing when there is no such stack. Any other
# failure (credentials, network) stops the script rather than pass for "absent".
stack_status() {
  local out
  if out=$(aws cloudformation describe-stacks --stack-name "$1" \
    --query 'Stacks[0].StackStatus' --output text 2>&1); then
    printf '%s\n' "$out"
  elif [[ $out != *"does not exist"* ]]; then
    die "cannot read stack $1: $out"
  fi
}

console_link() { # console_link STACK
  printf 'https://%s.console.aws.amazon.com/cloudformation/home?region=%s#/stacks/stackinfo?stackId=%s\n' \
    "$region" "$region" "$1"
}

# template_default TEMPLATE PARAMETER: the Default a template gives a parameter (read from the
# template, so the value has one home).
template_default() {
  local value
  value=$(awk -v want="  $2:" '
    /^[^ #]/ { in_params = ($0 == "Parameters:") }
    in_params && $0 == want { found = 1; next }
    found && /^  [^ ]/ { exit }
    found && /^    Default:/ { print $2; exit }' "$here/$1")
  [[ -n $value ]] || die "$1 gives $2 no default"
  printf '%s\n' "${value//\"/}"
}

# The deploy bucket: one per prefix and region, for the templates `aws cloudformation deploy`
# uploads (a template body sent inline may not exceed 51,200 bytes: "CloudFormation quotas")
# and the packaged Lambda code, which must be in the stack's region (Lambda's Code.S3Bucket).
deploy_bucket_name() {
  local account
  account=$(aws sts get-caller-identity --query Account --output text)
  printf '%s-deploy-%s-%s\n' "$prefix" "$account" "$region"
}

# ensure_deploy_bucket: make the deploy bucket when it is missing: private, encrypted, TLS only;
# sets deploy_bucket.
ensure_deploy_bucket() {
  deploy_bucket=$(deploy_bucket_name)
  aws s3api head-bucket --bucket "$deploy_bucket" >/dev/null 2>&1 && return 0
  log "creating the deploy bucket s3://$deploy_bucket"
  local location=()
  # us-east-1 is the one region that takes no LocationConstraint ("CreateBucket").
  [[ $region == us-east-1 ]] || location=(--create-bucket-configuration "LocationConstraint=$region")
  aws s3api create-bucket --bucket "$deploy_bucket" "${location[@]}" >/dev/null
  aws s3api put-public-access-block --bucket "$deploy_bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws s3api put-bucket-encryption --bucket "$deploy_bucket" --server-side-encryption-configuration \
    '{"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}'
  local partition arn
  partition=$(aws sts get-caller-identity --query Arn --output text | cut -d: -f2)
  arn="arn:$partition:s3:::$deploy_bucket"
  aws s3api put-bucket-policy --bucket "$deploy_bucket" --policy "$(
    printf '{"Version": "2012-10-17", "Statement": [{"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["%s", "%s/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}' "$arn" "$arn"
  )"
  aws s3api put-bucket-tagging --bucket "$deploy_bucket" --tagging "TagSet=[{Key=Project,Value=$prefix}]"
}

# deploy_template STACK TEMPLATE [deploy option...]: `aws cloudformation deploy` through the
# deploy bucket; ensure_deploy_bucket must have run. TEMPLATE is a path, or a file in here.
deploy_template() {
  local name=$1 template=$2
  shift 2
  [[ $template == /* ]] || template="$here/$template"
  aws cloudformation deploy \
    --stack-name "$name" \
    --template-file "$template" \
    --s3-bucket "${deploy_bucket:?ensure_deploy_bucket first}" \
    --s3-prefix templates \
    --capabilities CAPABILITY_NAMED_IAM \
    --no-fail-on-empty-changeset \
    "$@"
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
      delete_stack "$name"
      ;;
    *_FAILED) die "$name is $status: see its events, fix the cause, then run this again: $(console_link "$name")" ;;
    *_IN_PROGRESS) die "$name is $status: run this again when it has finished: $(console_link "$name")" ;;
    *) ;;
  esac
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

stack_output() { # stack_output STACK KEY
  aws cloudformation describe-stacks --stack-name "$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

stack_parameter() { # stack_parameter STACK KEY
  aws cloudformation describe-stacks --stack-name "$1" \
    --query "Stacks[0].Parameters[?ParameterKey=='$2'].ParameterValue" --output text
}

# is_imported_certificate ARN: whether ARN names a certificate imported into ACM, as
# certificate.sh makes, rather than one ACM issued. "" and None (no such parameter) are not.
is_imported_certificate() {
  [[ -n $1 && $1 != None ]] &&
    [[ $(aws acm describe-certificate --certificate-arn "$1" \
      --query Certificate.Type --output text 2>/dev/null) == IMPORTED ]]
}
