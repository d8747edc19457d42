#!/usr/bin/env bash
# Installs what hybridsync's lab and tests need on a Debian machine, checks
# that it is all there, then downloads the Go modules. Sourced by test.sh
# and lab-demo.sh; safe to rerun. Run it as root: the lab runs a Samba AD
# DC and adds loopback addresses.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: $0 must run as root: the lab runs a Samba AD DC and adds loopback addresses (try: sudo $0)" >&2
	exit 1
fi

# samba, ip, adduser and the systemd tools live in sbin, which a root
# shell started with su (without -) may not have in PATH.
for d in /usr/sbin /sbin; do
	case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
done
export PATH

# Installed with --no-install-recommends, so everything needed is named
# here, Recommends included:
#   samba samba-ad-dc winbind  the lab's AD domain controller (winbind is a
#                              dependency of samba-ad-dc)
#   samba-ad-provision         the AD schema files samba-tool domain
#                              provision reads (a Recommends of samba-ad-dc)
#   iproute2                   ip: the lab's loopback address
#   krb5-user ldb-tools        kinit/klist with the lab's keytab and
#                              ldbsearch on the DC's database, to inspect
#                              the lab
#   ldap-utils time            ldapsearch and /usr/bin/time for
#                              scripts/bench-export.sh
#   ca-certificates            the Go module download over HTTPS
#   gcc libc6-dev              cgo, which go test -race needs
#   prometheus                 promtool and a real server for the metrics
#                              tests
#   systemd                    systemctl and systemd-analyze for the unit
#                              and service tests (agent/svc, installer)
#   wixl msitools              build and inspect the Windows .msi
#   fakeroot make adduser      build the .deb (make deb) and install it
#                              (its postinst runs adduser) in the
#                              installer tests
packages=(samba samba-ad-dc samba-ad-provision winbind iproute2 krb5-user ldb-tools ldap-utils time
	ca-certificates gcc libc6-dev prometheus systemd wixl msitools fakeroot make adduser)
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

# Check what the lab and the tests use, also when nothing was installed: a
# package can be installed and still lack a file (removed by hand, or
# excluded by a dpkg path-exclude). Each line: the command (or an absolute
# path), the package that provides it, what needs it.
needs=(
	"samba|samba|the lab's domain controller"
	"samba-tool|samba-common-bin|provisioning the lab's domain"
	"/usr/share/samba/setup/ad-schema/AD_DS_Attributes__Windows_Server_2012_R2.ldf|samba-ad-provision|the AD schema samba-tool domain provision reads"
	"/usr/share/samba/setup/ad-schema/AD_DS_Classes__Windows_Server_2012_R2.ldf|samba-ad-provision|the AD schema samba-tool domain provision reads"
	"ip|iproute2|the lab's loopback address"
	"kinit|krb5-user|Kerberos tickets with the lab's keytab"
	"klist|krb5-user|Kerberos tickets with the lab's keytab"
	"ldbsearch|ldb-tools|reading the lab DC's database"
	"ldapsearch|ldap-utils|scripts/bench-export.sh"
	"/usr/bin/time|time|scripts/bench-export.sh"
	"/etc/ssl/certs/ca-certificates.crt|ca-certificates|the Go module download"
	"gcc|gcc|cgo (go test -race)"
	"/usr/include/stdio.h|libc6-dev|cgo (go test -race)"
	"promtool|prometheus|the metrics and alert rule tests"
	"prometheus|prometheus|the daemon's scrape test"
	"systemctl|systemd|the service tests (agent/svc)"
	"systemd-analyze|systemd|the unit tests (agent/svc, installer)"
	"wixl|wixl|building the .msi (make msi)"
	"msibuild|msitools|building the .msi (make msi)"
	"msiinfo|msitools|the .msi tests (installer)"
	"msiextract|msitools|the .msi tests (installer)"
	"make|make|building the packages (installer tests)"
	"fakeroot|fakeroot|building the .deb (make deb)"
	"dpkg-deb|dpkg|building and reading the .deb"
	"adduser|adduser|the .deb's postinst (installer tests)"
	"addgroup|adduser|the .deb's postinst (installer tests)"
	"deb-systemd-helper|init-system-helpers|the .deb's postinst (installer tests)"
	"useradd|passwd|the .deb install test's clean-up"
	"getent|libc-bin|the .deb install test"
)
absent=()
for n in "${needs[@]}"; do
	IFS='|' read -r what pkg why <<<"$n"
	if [[ $what == /* ]]; then
		[ -e "$what" ] && continue
	else
		command -v "$what" >/dev/null && continue
	fi
	echo "setup: $what is missing (Debian package $pkg; needed for $why)" >&2
	[[ " ${absent[*]} " == *" $pkg "* ]] || absent+=("$pkg")
done
if ((${#absent[@]})); then
	echo "setup: install or repair it with: apt-get install --reinstall --no-install-recommends ${absent[*]}" >&2
	exit 1
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
