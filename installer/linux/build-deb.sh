#!/bin/sh
# build-deb.sh BINARY VERSION OUTDIR: builds OUTDIR/hybridsync_VERSION_amd64.deb
# from a staged tree, with dpkg-deb under fakeroot (files owned by root).
#
#   /usr/bin/hybridsync                   BINARY (linux/amd64)
#   /lib/systemd/system/hybridsync.service  agent/svc's unit, rendered by
#                                         render-unit exactly as "hybridsync
#                                         service install" renders it
#   /etc/hybridsync/hybridsync.yaml       configs/hybridsync.example.yaml
#                                         (a conffile; 0640, root:hybridsync
#                                         after postinst)
#
# Environment: GO (default go), DEB_MAINTAINER (the control file's
# Maintainer field).
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY VERSION OUTDIR" >&2
	exit 2
fi
bin=$1
version=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
maintainer=${DEB_MAINTAINER:-hybridsync maintainers <hybridsync@example.invalid>}

stage=$(mktemp -d "${TMPDIR:-/tmp}/hybridsync-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
pkg=$stage/hybridsync
umask 022

install -D -m 0755 "$bin" "$pkg/usr/bin/hybridsync"
install -d -m 0755 "$pkg/lib/systemd/system"
(cd "$root" && "${GO:-go}" run ./installer/linux/render-unit) >"$pkg/lib/systemd/system/hybridsync.service"
chmod 0644 "$pkg/lib/systemd/system/hybridsync.service"
install -d -m 0750 "$pkg/etc/hybridsync"
install -m 0640 "$root/configs/hybridsync.example.yaml" "$pkg/etc/hybridsync/hybridsync.yaml"
install -D -m 0644 "$here/../README.md" "$pkg/usr/share/doc/hybridsync/README.md"

size=$(du -sk "$pkg" | cut -f1)
install -d -m 0755 "$pkg/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s|@MAINTAINER@|$maintainer|" \
	"$here/debian/control.in" >"$pkg/DEBIAN/control"
install -m 0644 "$here/debian/conffiles" "$pkg/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$pkg/DEBIAN/$s"
done

mkdir -p "$out"
deb=$out/hybridsync_${version}_amd64.deb
# xz level 3: under half the time of the default level 6 for about a tenth
# more bytes (the binary dominates).
fakeroot -- sh -c 'chown -R 0:0 "$1" && dpkg-deb -Zxz -z3 --build "$1" "$2" >/dev/null' sh "$pkg" "$deb"
echo "$deb"
