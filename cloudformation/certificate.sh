#!/usr/bin/env bash
# Self-signed HTTPS, phase 2 (phase 1 is deploy.sh without a certificate): make a certificate
# whose SAN is the public ALB's DNS name, import it into ACM, publish the public PEM in SSM for
# polybot's set_webhook(certificate=...), give the app stack the certificate ARN (this creates
# the HTTPS listener) and have the polybot instances fetch the PEM. Run it again to renew:
# the certificate is re-imported under the same ARN. See docs/deploying.md, "Deploy, step by step".
set -euo pipefail

usage() {
  cat <<'TXT'
usage: cloudformation/certificate.sh [--prefix NAME] [--region REGION] [--days N]
  --prefix NAME    the prefix the stacks were deployed with [PREFIX, default polybot]
  --region REGION  AWS region [AWS_REGION, default us-east-1]
  --days N         certificate validity in days [CERT_DAYS, default 365]
TXT
}

# shellcheck source=cloudformation/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
days=${CERT_DAYS:-365}

while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --region) region=${2:?--region needs a value}; shift 2 ;;
    --days) days=${2:?--days needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ $days =~ ^[0-9]+$ ]] || die "--days must be a whole number"
command -v openssl >/dev/null || die "openssl is required"
use_region

app_stack="$prefix-app"
parameter="/$prefix/webhook-certificate"

dns=$(stack_output "$app_stack" PublicLoadBalancerDnsName) ||
  die "stack $app_stack not found: run cloudformation/deploy.sh first"
[[ -n $dns && $dns != None ]] || die "stack $app_stack has no PublicLoadBalancerDnsName output"
# ACM needs the site's FQDN in the certificate ("Prerequisites for importing ACM certificates");
# it goes in the subjectAltName, which has no length limit and is what TLS clients match
# (RFC 6125). X.509 caps the CN at 64 characters, which an ALB name with a long prefix in a
# long region exceeds, so the CN is only a short label.
cn="$prefix-webhook"
cn=${cn:0:64}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
umask 077 # the private key never leaves this directory except into ACM

log "creating a self-signed certificate for $dns ($days days)"
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days "$days" \
  -subj "/CN=$cn" -addext "subjectAltName=DNS:$dns" \
  -keyout "$workdir/key.pem" -out "$workdir/cert.pem" 2>/dev/null

# Re-import over the certificate the stack already uses when it is one of ours (renewal).
current=$(stack_parameter "$app_stack" CertificateArn)
reimport=()
if is_imported_certificate "$current"; then
  reimport=(--certificate-arn "$current")
  log "re-importing into $current"
else
  reimport=(--tags "Key=Project,Value=$prefix" "Key=ManagedBy,Value=certificate.sh")
fi
arn=$(aws acm import-certificate "${reimport[@]}" \
  --certificate "fileb://$workdir/cert.pem" --private-key "fileb://$workdir/key.pem" \
  --query CertificateArn --output text)
log "certificate in ACM: $arn"

log "publishing the public PEM at SSM $parameter"
aws ssm put-parameter --name "$parameter" --type String --overwrite \
  --value "file://$workdir/cert.pem" >/dev/null

log "updating $app_stack with the certificate (creates the HTTPS listener)"
ensure_deploy_bucket
# --tags as deploy.sh gives them: without the option the CLI sends an empty list, which
# removes the stack's tags.
deploy_template "$app_stack" app.yaml --tags "Project=$prefix" \
  --parameter-overrides "CertificateArn=$arn"

log "asking the polybot instances to fetch the PEM"
aws ssm send-command --document-name AWS-RunShellScript \
  --comment "$prefix: refresh webhook certificate" \
  --targets "Key=tag:Service,Values=polybot" "Key=tag:Project,Values=$prefix" \
  --parameters 'commands=["systemctl start polybot-webhook-cert.service"]' \
  --query Command.CommandId --output text >/dev/null

if stack_exists "$prefix-pipeline"; then
  log "done. Release polybot again so it re-registers the webhook $(stack_output "$app_stack" WebhookUrl)"
  log "with the certificate: aws codepipeline start-pipeline-execution --region $region --name $prefix-pipeline"
  log "(or Release change on the pipeline in the console)"
else
  log "done: the pipeline's first release registers the webhook $(stack_output "$app_stack" WebhookUrl) with it"
fi
