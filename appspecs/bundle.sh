#!/usr/bin/env bash
# bundle.sh <service> <dest>: assemble the CodeDeploy bundle of one service in <dest>:
# appspec.yml at the root, the shared hooks (shared/hooks/) beside the service's own hooks
# (<service>/hooks/). The build (buildspecs/build.yml) and the hook tests both call this, so
# the tests run exactly what the pipeline ships; the build adds image.env afterwards.
# Rerunning it into the same <dest> gives the same bundle.
set -euo pipefail

die() {
  printf 'bundle.sh: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: bundle.sh <service> <dest>"
service="$1"
dest="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ "$service" != shared && -f "${here}/${service}/appspec.yml" ]] ||
  die "no service ${service} (expected ${here}/${service}/appspec.yml)"

# One fact in one place: a service file may not silently replace a shared one.
while IFS= read -r -d '' shared_file; do
  rel="${shared_file#"${here}/shared/"}"
  [[ ! -e "${here}/${service}/${rel}" ]] || die "${service}/${rel} shadows shared/${rel}"
done < <(find "${here}/shared" -type f -print0)

mkdir -p "$dest"
cp -R "${here}/shared/." "$dest/"
cp -R "${here}/${service}/." "$dest/"
# The source checkout may have lost the executable bits (a zip artifact); CodeDeploy needs them.
chmod 0755 "$dest"/hooks/*.sh

# Every script the appspec names must be in the bundle, or CodeDeploy fails mid-deployment.
while IFS= read -r location; do
  [[ -x "${dest}/${location}" ]] || die "${service}: appspec names ${location}, not in the bundle"
done < <(sed -n 's/^ *- location: *//p' "${dest}/appspec.yml")
