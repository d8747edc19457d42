#!/usr/bin/env bash
# The main job on the lab: installs what it needs, brings up (or restarts) a
# Samba AD DC with a seeded organisation and the tenant emulator in ./lab
# (or $1), exports the recipients of both sides, then:
#
#   1. hybridsync plan: the address drift between AD and the tenant;
#   2. hybridsync apply --auto-approve: writes the safe fixes to AD
#      (journalled) and waits for the lab's simulated Entra Connect, which
#      syncs every 30 seconds, to show them in the tenant;
#   3. hybridsync lab sync: one more sync cycle;
#   4. hybridsync plan again: the fixed findings are gone;
#   5. hybridsync migrate: moves one seeded distribution list (Announcements:
#      moderated, with owners) to Exchange Online by the recreate path with
#      hybrid mail flow (plan, run, status), the config listing it in
#      DIR/demo/migrate.yaml (its objectGUID kept in DIR/demo/migrate-group.guid);
#
# and ends with a summary. It exits non-zero if a step fails, the second
# plan still shows a fixed finding, or the list is not migrated. The outputs are in DIR/demo. The lab
# keeps running afterwards; stop it with: bin/hybridsync lab down --dir lab
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-debian.sh
dir=${1:-lab}
cfg=$dir/hybridsync.yaml
out=$dir/demo

step() { printf '\n== %s\n' "$*"; }

step "build"
go build -tags lab -o bin/hybridsync .  # the development binary: with the lab
if ! bin/hybridsync lab status --dir "$dir" >/dev/null 2>&1; then
	step "lab up (a first one provisions the DC and seeds it: several minutes)"
	bin/hybridsync lab up --dir "$dir"
fi
mkdir -p "$out"

step "export both sides"
bin/hybridsync ad export -c "$cfg" -o "$dir/recipients.jsonl"
echo "exported $(wc -l <"$dir/recipients.jsonl") AD recipients to $dir/recipients.jsonl"
bin/hybridsync cloud export -c "$cfg" -o "$dir/cloud-recipients.jsonl"
echo "exported $(wc -l <"$dir/cloud-recipients.jsonl") tenant recipients to $dir/cloud-recipients.jsonl"

# plan_to NAME: runs plan, printing it and saving it as $out/NAME.json.
# Returns plan's --detailed-exitcode status: 0 nothing to do, 2 fixes
# pending; any other status is an error and ends the demo.
plan_to() {
	local status=0
	bin/hybridsync plan -c "$cfg" --detailed-exitcode -o "$out/$1.json" || status=$?
	case $status in
	0 | 2) return "$status" ;;
	*)
		echo "lab-demo: hybridsync plan failed (exit $status)" >&2
		exit "$status"
		;;
	esac
}

step "plan: what drifted (hybridsync plan -c $cfg)"
plan_to plan-before || true

step "apply the safe fixes (hybridsync apply -c $cfg --auto-approve)"
# The lab's Entra Connect syncs every 30 seconds: five minutes covers
# several cycles on a busy machine (a real tenant's default cycle is 30
# minutes, hence apply's default of 45).
bin/hybridsync apply -c "$cfg" --auto-approve --verify-timeout 5m --verify-interval 10s --json >"$out/apply.json"
run=$(grep -o '"runID": *"[^"]*"' "$out/apply.json" | sed 's/.*"\([^"]*\)"$/\1/')
if [ -z "$run" ]; then
	echo "lab-demo: $out/apply.json names no run" >&2
	exit 1
fi
bin/hybridsync journal list -c "$cfg" --run "$run"
bin/hybridsync journal list -c "$cfg" --run "$run" --json >"$out/journal.json"

step "one sync cycle of the lab's Entra Connect (hybridsync lab sync --dir $dir)"
bin/hybridsync lab sync --dir "$dir" | tee "$out/sync.json"

step "plan again: the fixed drift is gone"
status=0
plan_to plan-after || status=$?
if ((status != 0)); then
	echo "lab-demo: the second plan still proposes fixes (see above)" >&2
fi

step "migrate a distribution list with hybrid mail flow (hybridsync migrate)"
# The config lists one group by its objectGUID; the lab's config already
# says how to get a sync cycle (migrations.sync) and where the no-sync OU
# is. A second demo on the same lab keeps the first one's objectGUID: the
# list is migrated already, and its DN now holds the on-premises dynamic
# list.
migrate_cfg=$out/migrate.yaml
guid_file=$out/migrate-group.guid
if [ -s "$guid_file" ]; then
	guid=$(cat "$guid_file")
else
	group_dn=$(grep -o '"moderatedDL": *"[^"]*"' "$dir/lab.json" | sed 's/.*: *"\(.*\)"$/\1/' || true)
	if [ -z "$group_dn" ]; then
		echo "lab-demo: $dir/lab.json names no moderated list to migrate" >&2
		exit 1
	fi
	guid=$(bin/hybridsync ad export -c "$cfg" --base "$group_dn" --log-level warn | grep -o '"objectGUID": *"[^"]*"' | head -n 1 | sed 's/.*: *"\(.*\)"$/\1/' || true)
	if [ -z "$guid" ]; then
		echo "lab-demo: cannot read the objectGUID of $group_dn" >&2
		exit 1
	fi
	echo "$guid" >"$guid_file"
fi
awk -v guid="$guid" '
	{ print }
	/^migrations:$/ {
		print "  groups:"
		print "    - group: \"{" guid "}\"  # Announcements"
		print "      method: recreate"
		print "      hybrid_mail_flow: true"
		print "      keep_on_premises_group: true"
	}' "$cfg" >"$migrate_cfg"
if ! grep -q "$guid" "$migrate_cfg"; then
	echo "lab-demo: $cfg has no migrations section to add the group to" >&2
	exit 1
fi
bin/hybridsync migrate plan -c "$migrate_cfg"
bin/hybridsync migrate run -c "$migrate_cfg" --auto-approve
bin/hybridsync migrate status -c "$migrate_cfg"
bin/hybridsync migrate status -c "$migrate_cfg" --json >"$out/migrate-status.json"

step "summary"
summary=0
go run ./scripts/lab-demo-summary "$out" || summary=$?
if ((status == 0)); then
	status=$summary
fi
exit "$status"
