# shellcheck shell=bash
# shellcheck disable=SC2154 # the options and stack names: set by deploy.sh, which sources this
# shellcheck disable=SC2016 # backticks in the queries are JMESPath literals
# deploy.sh --status's view of the releases: which polybot fleet serves, and the commit each
# fleet and the worker group run. Sourced after status.sh.

# The commit a CodeDeploy revision deploys: its bundle's image.env names the image tag.
revision_commit() { # revision_commit BUCKET KEY
  local bundle="$workdir/bundle.zip" env
  aws s3 cp "s3://$1/$2" "$bundle" --quiet 2>/dev/null || return 0
  if command -v python3 >/dev/null; then
    env=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("image.env").decode())' "$bundle" 2>/dev/null) || return 0
  else
    env=$(unzip -p "$bundle" image.env 2>/dev/null) || return 0
  fi
  env=$(grep '^IMAGE_URI=' <<<"$env") || return 0
  printf '%s\n' "${env##*:}" | cut -c1-7
}

# release_commits APPLICATION GROUP DESCRIPTION...: one line per DESCRIPTION, the commit of
# the newest successful deployment to GROUP whose description starts with it ("nothing yet"
# when there is none). The group's deployments are listed once for all of them.
release_commits() {
  local ids rows=() row description bucket key wanted commit
  ids=$(aws deploy list-deployments --application-name "$1" --deployment-group-name "$2" \
    --include-only-statuses Succeeded --query 'deployments[:20]' --output text 2>/dev/null) || ids=""
  shift 2
  if [[ -n $ids && $ids != None ]]; then
    # shellcheck disable=SC2086 # the ids are words
    mapfile -t rows < <(aws deploy batch-get-deployments --deployment-ids $ids --output text --query \
      'deploymentsInfo[].[createTime, description || `-`, revision.s3Location.bucket, revision.s3Location.key]' \
      2>/dev/null | sort -r)
  fi
  for wanted in "$@"; do
    commit="nothing yet"
    for row in "${rows[@]}"; do
      IFS=$'\t' read -r _ description bucket key <<<"$row"
      [[ $description == "$wanted"* ]] || continue
      commit=$(revision_commit "$bucket" "$key")
      break
    done
    printf '%s\n' "$commit"
  done
}

status_fleets() {
  local group serving="" id state fleet healthy=0
  group=$(out "$app_stack" PublicTargetGroupArn)
  [[ -n $group ]] || { bad "fleets: no app stack"; return 0; }
  local -A fleet_of=() healthy_in=()
  while read -r id fleet; do
    fleet_of[$id]=$fleet
  done < <(aws ec2 describe-instances --filters "Name=tag:Project,Values=$prefix" "Name=tag:Service,Values=polybot" \
    --query 'Reservations[].Instances[].[InstanceId, Tags[?Key==`Fleet`].Value | [0]]' --output text 2>/dev/null)
  while read -r id state; do
    [[ $state == healthy ]] || continue
    fleet=${fleet_of[$id]:-unknown}
    healthy_in[$fleet]=$((${healthy_in[$fleet]:-0} + 1))
    healthy=$((healthy + 1))
  done < <(aws elbv2 describe-target-health --target-group-arn "$group" \
    --query 'TargetHealthDescriptions[].[Target.Id, TargetHealth.State]' --output text 2>/dev/null)
  for fleet in "${!healthy_in[@]}"; do serving+="${serving:+, }$fleet (${healthy_in[$fleet]} healthy)"; done
  if ((healthy > 0)); then ok "serving fleet: $serving"; else bad "serving fleet: none (no healthy target in $prefix-public)"; fi

  local polybot_group yolo5_app yolo5_group commits="" i
  polybot_group=$(out "$pipeline_stack" PolybotDeploymentGroup)
  yolo5_app=$(out "$pipeline_stack" Yolo5ApplicationName)
  yolo5_group=$(out "$pipeline_stack" Yolo5DeploymentGroup)
  [[ -n $polybot_group && -n $yolo5_group ]] || { info "releases: no pipeline stack yet"; return 0; }
  make_workdir
  local fleets=(blue green) polybot_commits
  mapfile -t polybot_commits < <(release_commits "${polybot_group%%/*}" "${polybot_group#*/}" \
    "${fleets[@]/#/polybot to }")
  for i in "${!fleets[@]}"; do
    commits+="${fleets[i]} runs ${polybot_commits[i]}, "
  done
  info "releases: ${commits}workers run $(release_commits "$yolo5_app" "$yolo5_group" "")"
}
