# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# deploy.sh --delete: everything deploy.sh made, in the order that works. Sourced by deploy.sh
# after lib.sh.

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
  delete_connection
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

# delete_connection: the GitHub connection, only when deploy.sh created it (its tag says so): a
# connection made by hand is the operator's, and a new one needs a new handshake.
delete_connection() {
  local arn managed
  if ! arn=$(find_connection 2>/dev/null); then
    log "warning: could not list the GitHub connections; $(connection_name), if any, is kept"
    return 0
  fi
  [[ -n $arn ]] || return 0
  managed=$(aws codestar-connections list-tags-for-resource --resource-arn "$arn" \
    --query "Tags[?Key=='ManagedBy'].Value | [0]" --output text)
  if [[ $managed == deploy.sh ]]; then
    log "deleting the GitHub connection $arn"
    aws codestar-connections delete-connection --connection-arn "$arn" >/dev/null
  else
    log "keeping the GitHub connection $arn: deploy.sh did not create it"
  fi
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

