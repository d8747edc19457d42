#!/usr/bin/env bash
# The whole test suite: installs what it needs, starts one Samba AD lab on a
# loopback address, runs every package's tests against it (none are
# skipped), runs the fuzz targets briefly, and ends with the test that kills
# the DC mid-search. The lab is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-debian.sh

echo "== build"
go build -tags lab -o bin/hybridsync .  # the development binary: with the lab
# The Windows binary (the .msi's) and the static Linux binary (the .deb's)
# are built here first: the packaging tests then find them in the build
# cache instead of compiling the Graph SDK twice more inside their timeout.
echo "== cross-compile (windows/amd64, static linux/amd64)"
CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath -o /dev/null .
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o /dev/null .
go vet ./...
go vet -tags lab ./...
go vet -tags labkill ./ad/adldap/
go vet -tags 'lab labkill' ./agent/cli/
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi

labdir=$(mktemp -d /tmp/hybridsync-test-lab.XXXXXX)
steplog=$(mktemp /tmp/hybridsync-test-log.XXXXXX)
cleanup() {
	bin/hybridsync lab down --dir "$labdir" >/dev/null 2>&1 || true
	rm -rf "$labdir" "$steplog"
}
trap cleanup EXIT

# quiet CMD...: runs CMD with its output in $steplog. If CMD fails, prints
# all of that output and exits with CMD's status; otherwise prints nothing.
quiet() {
	local status=0
	"$@" >"$steplog" 2>&1 || status=$?
	if ((status != 0)); then
		cat "$steplog" >&2
		echo "FAILED (exit $status): $*" >&2
		exit "$status"
	fi
}

echo "== lab up ($labdir)"
bin/hybridsync lab up --dir "$labdir"
export HYBRIDSYNC_LAB_ENV="$labdir/lab.env" HYBRIDSYNC_REQUIRE_LAB=1

echo "== fuzz (seed corpora run in the unit tests; each target also fuzzes briefly)"
# -fuzzminimizetime keeps the minimisation of a new interesting input short:
# when -fuzztime ends during a long one, go test reports "context deadline
# exceeded" although no input failed. A real failure writes the failing
# input under testdata/fuzz and says so ("Failing input written to"); only
# a deadline with no failing input is tolerated, and it is reported.
fuzz() {
	local target=$1 status=0
	go test ./ad/ -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 1s >"$steplog" 2>&1 || status=$?
	if ((status != 0)); then
		if grep -q 'context deadline exceeded' "$steplog" && ! grep -q 'Failing input written' "$steplog"; then
			echo "fuzz $target: time ran out while minimising a new input (no failing input found)"
			return
		fi
		cat "$steplog" >&2
		echo "FAILED (exit $status): fuzz $target" >&2
		exit "$status"
	fi
	echo "fuzz $target: ok"
}
for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' ad/*_test.go | sed 's/^func //'); do
	fuzz "$target"
done

echo "== tests"
go test -count=1 -race -timeout 40m -tags lab ./...

echo "== a migration across a DC restart (alone: it restarts the lab's DC)"
quiet go test -count=1 -tags 'lab labkill' -run '^TestLabMigrateDCRestarted$' -v ./agent/cli/
grep -E '^(=== RUN|--- |    |ok|FAIL|PASS)' "$steplog"

echo "== DC killed mid-search (last: it stops the lab's DC)"
quiet go test -count=1 -tags labkill -run '^TestDCKilledMidSearch$' -v ./ad/adldap/
grep -E '^(=== RUN|--- |    |ok|FAIL|PASS)' "$steplog"
