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
