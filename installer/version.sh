#!/bin/sh
# version.sh deb|msi VERSION: turns a version as "git describe --tags
# --always" prints it (v1.2.3, v1.2.3-4-gabc1234, abc1234) or any other
# string into a Debian package version or an MSI ProductVersion.
#
#   VERSION             deb                  msi
#   v1.2.3              1.2.3                1.2.3
#   v1.2.3-4-gabc1234   1.2.3+git4.gabc1234  1.2.3
#   v1.2.3-rc1          1.2.3~rc1            1.2.3
#   abc1234 (no tag)    0.0.0+gitabc1234     0.0.0
#
# MSI versions are three numbers (major and minor below 256, build below
# 65536); Windows Installer compares only those for upgrades.
set -eu
kind=$1
v=${2#v}
base=$(printf '%s\n' "$v" | sed -n 's/^\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
rest=${v#"$base"}
if [ -z "$base" ]; then
	base=0.0.0
	rest=$(printf '%s' "$v" | tr -c 'A-Za-z0-9.' '.')
	[ -n "$rest" ] && rest="+git$rest"
else
	# "-4-gabc1234" -> "+git4.gabc1234" (after 1.2.3); another suffix
	# such as "-rc1" -> "~rc1" (before 1.2.3); anything else is made safe.
	rest=$(printf '%s' "$rest" | sed -e 's/^-\([0-9][0-9]*\)-\(g[0-9a-f]*\)$/+git\1.\2/' -e 's/^-/~/' | tr -c 'A-Za-z0-9.+~' '.')
fi
case $kind in
deb) printf '%s%s\n' "$base" "$rest" ;;
msi) printf '%s\n' "$base" ;;
*)
	echo "usage: version.sh deb|msi VERSION" >&2
	exit 2
	;;
esac
