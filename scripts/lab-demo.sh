#!/usr/bin/env bash
# The main job on the lab: installs what it needs, brings up a Samba AD DC
# with a seeded organisation and the tenant emulator in ./lab (or $1), and
# exports the mail-enabled recipients of both sides (`hybridsync ad export`,
# `hybridsync cloud export`). The lab keeps running afterwards;
# stop it with: bin/hybridsync lab down --dir lab
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-debian.sh
dir=${1:-lab}
go build -o bin/hybridsync .
if ! bin/hybridsync lab status --dir "$dir" >/dev/null 2>&1; then
	bin/hybridsync lab up --dir "$dir"
fi
bin/hybridsync ad export -c "$dir/hybridsync.yaml" -o "$dir/recipients.jsonl"
echo "exported $(wc -l <"$dir/recipients.jsonl") AD recipients to $dir/recipients.jsonl"
bin/hybridsync cloud export -c "$dir/hybridsync.yaml" -o "$dir/cloud-recipients.jsonl"
echo "exported $(wc -l <"$dir/cloud-recipients.jsonl") tenant recipients to $dir/cloud-recipients.jsonl"
