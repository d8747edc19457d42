#!/usr/bin/env bash
# Benchmark: `hybridsync ad export` against ldapsearch with paging, asking the
# same DC for the same filter and attributes, in the same run, alternating
# runs. Usage: scripts/bench-export.sh LABDIR [RUNS] [BASE_DN]
# (BASE_DN defaults to the lab's base DN).
# Prints a Markdown table row per tool: median wall time, max RSS, and the
# ratio hybridsync/ldapsearch. Build bin/hybridsync first.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
runs=${2:-5}
set -a
. "$dir/lab.env"
set +a
base=${3:-$HYBRIDSYNC_LAB_BASE_DN}
query=$(bin/hybridsync ad export --show-query)
filter=$(sed -n 's/^filter: //p' <<<"$query")
# hybridsync asks for member;range=0-1499 and completes big groups with
# ranged reads; ldapsearch cannot, so it asks for plain member, which Samba
# answers with every value: both retrieve the same data.
read -r -a attrs <<<"$(sed -n 's/^attributes: //p' <<<"$query" | sed 's/member;range=[0-9]*-[0-9]*/member/')"
pw=$(mktemp)
trap 'rm -f "$pw"' EXIT
tr -d '\n' <"$HYBRIDSYNC_LAB_PASSWORD_FILE" >"$pw"
recipients=$(bin/hybridsync ad export -c "$HYBRIDSYNC_LAB_CONFIG" --base "$base" --log-level warn | wc -l)

hs=() ls=() hsm=() lsm=()
for i in $(seq "$runs"); do
	r=$( { /usr/bin/time -f '%e %M' bin/hybridsync ad export -c "$HYBRIDSYNC_LAB_CONFIG" --base "$base" --log-level warn >/dev/null; } 2>&1 | tail -1)
	hs+=("${r% *}") hsm+=("${r#* }")
	r=$( { LDAPTLS_CACERT=$HYBRIDSYNC_LAB_CA_FILE /usr/bin/time -f '%e %M' ldapsearch -LLL -o ldif-wrap=no \
		-H "$HYBRIDSYNC_LAB_LDAP_URL" -D "$HYBRIDSYNC_LAB_BIND_DN" -y "$pw" -b "$base" \
		-E pr=1000/noprompt "$filter" "${attrs[@]}" >/dev/null; } 2>&1 | tail -1)
	ls+=("${r% *}") lsm+=("${r#* }")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
h=$(median "${hs[@]}") l=$(median "${ls[@]}")
echo "| tool | recipients | median wall (s), $runs runs | max RSS (MiB) |"
echo "|---|---|---|---|"
echo "| hybridsync ad export | $recipients | $h | $(awk -v k="$(max "${hsm[@]}")" 'BEGIN{printf "%.1f", k/1024}') |"
echo "| ldapsearch -E pr=1000 | $recipients | $l | $(awk -v k="$(max "${lsm[@]}")" 'BEGIN{printf "%.1f", k/1024}') |"
echo
echo "ratio hybridsync/ldapsearch: $(awk -v a="$h" -v b="$l" 'BEGIN{printf "%.2f", a/b}')"
