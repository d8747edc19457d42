#!/usr/bin/env bash
# Installs what hybridsync's lab and tests need on a Debian machine, then
# downloads the Go modules. Sourced by test.sh and lab-demo.sh; safe to rerun.
# Run it as root: the lab runs a Samba AD DC and adds loopback addresses.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: $0 must run as root: the lab runs a Samba AD DC and adds loopback addresses (try: sudo $0)" >&2
	exit 1
fi

# gcc and libc6-dev: cgo, which go test -race needs. time: /usr/bin/time
# in scripts/bench-export.sh.
# prometheus: promtool and a real server for the metrics tests. wixl and msitools:
# build and inspect the Windows .msi. fakeroot: the .deb. make: `make packages`.
packages=(samba samba-ad-dc winbind krb5-user ldb-tools ldap-utils iproute2 ca-certificates gcc libc6-dev time prometheus msitools wixl fakeroot make)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}" >&2
	apt-get update -qq
	# krb5-user asks for a default realm; the lab writes its own krb5.conf.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts the packaged DC services; the lab runs its own DC and
	# must have the LDAP ports to itself.
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now samba-ad-dc smbd nmbd winbind >/dev/null 2>&1 || true
	fi
fi

if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH="/usr/local/go/bin:$PATH"
	else
		echo "setup: Go $(sed -n 's/^go //p' go.mod) or newer is required (install it to /usr/local/go)" >&2
		exit 1
	fi
fi
go mod download
