#!/usr/bin/env bash
# The S3 backend against a real radosgw on loopback: the store's contract
# (path-style and virtual-host, multipart, a wrong secret) and a log shipped
# and restored through it. $1: the build directory.
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/radosgw.sh"
dir=$(mktemp -d /tmp/volmigrate-rgw.XXXXXX)
trap 'rgw_stop; rm -rf "$dir"' EXIT
start=$(date +%s)
rgw_start "$dir/ceph" || { tail -20 "$dir"/ceph/log/* >&2; exit 1; }
echo "radosgw answered after $(( $(date +%s) - start )) s at $S3_ENDPOINT"
export VOLMIGRATE_S3_ENDPOINT=$S3_ENDPOINT VOLMIGRATE_S3_BUCKET=$S3_BUCKET
export VOLMIGRATE_S3_VHOST_ENDPOINT=${S3_ENDPOINT/127.0.0.1/localhost}  # curl resolves *.localhost itself
export VOLMIGRATE_S3_ACCESS=$S3_ACCESS VOLMIGRATE_S3_SECRET=$S3_SECRET
export AWS_ACCESS_KEY_ID=$S3_ACCESS AWS_SECRET_ACCESS_KEY=$S3_SECRET  # the log test takes them from here
"$build/objstore/objstore_test" --gtest_filter='S3Store.*' --gtest_brief=1
"$build/lsvd/lsvd_test" --gtest_filter='LogOverS3.*' --gtest_brief=1
# The secret must appear in no log the daemons wrote of our requests.
if grep -rqF "$S3_SECRET" "$dir/ceph/log"; then echo "the S3 secret appears in radosgw's logs" >&2; exit 1; fi
