// Package installer holds hybridsync's packaging, driven by the top-level
// Makefile: the .deb (installer/linux: maintainer scripts, build-deb.sh,
// render-unit, which renders agent/svc's systemd unit) and the .msi
// (installer/windows: hybridsync.wxs for wixl, build-msi.sh). It has no
// code of its own; its tests build both packages through the Makefile and
// check what they install, and install the .deb for real where they may.
package installer
