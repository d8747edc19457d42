#!/usr/bin/env bash
# Measures the agent's idle cost against a running lab: starts
# `hybridsync run` on a copy of the lab's config (own state directory,
# default 5-minute interval), waits for the first full reconcile, then
# samples CPU time and memory over SECONDS (default 180).
#
#   scripts/bench-agent.sh LABDIR [SECONDS]
#
# Prints the full read's duration, RSS and peak RSS after it, and over the
# idle window the CPU used (as a percentage of one core) and the RSS.
set -euo pipefail
lab=${1:?usage: $0 LABDIR [SECONDS]}
secs=${2:-180}
cd "$(dirname "$0")/.."
go build -tags lab -o bin/hybridsync .  # the development binary: with the lab
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
sed "s|^state_dir: .*|state_dir: \"$work/state\"|" "$lab/hybridsync.yaml" > "$work/hybridsync.yaml"
port=$((20000 + RANDOM % 10000))
bin/hybridsync run -c "$work/hybridsync.yaml" --listen "127.0.0.1:$port" 2> "$work/agent.log" &
pid=$!
start=$(date +%s.%N)
for _ in $(seq 1 1200); do
	if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
	sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
ready=$(date +%s.%N)
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
mem() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
rss_full=$(mem VmRSS); hwm_full=$(mem VmHWM)
c0=$(cpu); t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu); t1=$(date +%s.%N)
rss_idle=$(mem VmRSS)
runs=$(curl -fsS "http://127.0.0.1:$port/status" | grep -c '"kind"' || true)
awk -v s="$start" -v r="$ready" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tk="$ticks" \
	-v rf="$rss_full" -v hf="$hwm_full" -v ri="$rss_idle" -v runs="$runs" 'BEGIN {
	printf "first full reconcile: %.1f s\n", r - s
	printf "after it: RSS %.0f MiB, peak RSS %.0f MiB\n", rf / 1024, hf / 1024
	printf "idle %.0f s (%d runs in /status): CPU %.2f%% of one core, RSS %.0f MiB\n", t1 - t0, runs, (c1 - c0) / tk / (t1 - t0) * 100, ri / 1024
}'
