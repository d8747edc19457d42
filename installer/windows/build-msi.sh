#!/bin/sh
# build-msi.sh EXE VERSION OUTDIR: builds OUTDIR/hybridsync-VERSION-x64.msi
# from hybridsync.wxs with wixl, then adds with msibuild what wixl (msitools
# 0.101) cannot express:
#
#   - MsiServiceConfig: the service starts delayed (automatic, delayed
#     start), as "hybridsync service install" sets it;
#   - MsiServiceConfigFailureActions: restart 30 s after every failure, the
#     failure count reset after a day without one (agent/svc's RestartDelay
#     and FailureResetPeriod);
#   - the MsiConfigureServices action that applies both (Windows Installer
#     5.0, Windows 7 / Server 2008 R2 and later);
#   - the config's component NeverOverwrite (an existing config is kept) and
#     Permanent (uninstall and upgrade keep the admin's config).
#
# VERSION is major.minor.build (installer/version.sh msi).
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 EXE VERSION OUTDIR" >&2
	exit 2
fi
exe=$1
version=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# agent/svc's RestartDelay (ms) and FailureResetPeriod (s).
restart_delay_ms=30000
reset_period_s=86400
# msidbServiceConfigEventInstall | msidbServiceConfigEventReinstall
events=5
# msidbComponentAttributesPermanent | msidbComponentAttributesNeverOverwrite
config_attributes=144

stage=$(mktemp -d "${TMPDIR:-/tmp}/hybridsync-msi.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
# wixl 0.101 resolves File/@Source relative to the .wxs only.
cp "$exe" "$stage/hybridsync.exe"
cp "$root/configs/hybridsync.example.yaml" "$stage/hybridsync.yaml"
cp "$here/../README.md" "$stage/README.md"
cp "$here/hybridsync.wxs" "$stage/hybridsync.wxs"
(cd "$stage" && wixl --arch x64 -D "Version=$version" -o hybridsync.msi hybridsync.wxs)

msi=$stage/hybridsync.msi
q() { msibuild "$msi" -q "$1"; }
q "UPDATE \`Component\` SET \`Attributes\` = $config_attributes WHERE \`Component\` = 'Config'"
q "CREATE TABLE \`MsiServiceConfig\` (\`MsiServiceConfig\` CHAR(72) NOT NULL, \`Name\` CHAR(255) NOT NULL, \`Event\` SHORT NOT NULL, \`ConfigType\` LONG NOT NULL, \`Argument\` CHAR(0), \`Component_\` CHAR(72) NOT NULL PRIMARY KEY \`MsiServiceConfig\`)"
# ConfigType 3: SERVICE_CONFIG_DELAYED_AUTO_START_INFO, on.
q "INSERT INTO \`MsiServiceConfig\` (\`MsiServiceConfig\`, \`Name\`, \`Event\`, \`ConfigType\`, \`Argument\`, \`Component_\`) VALUES ('AgentDelayedAutoStart', 'hybridsync', $events, 3, '1', 'Agent')"
q "CREATE TABLE \`MsiServiceConfigFailureActions\` (\`MsiServiceConfigFailureActions\` CHAR(72) NOT NULL, \`Name\` CHAR(255) NOT NULL, \`Event\` SHORT NOT NULL, \`ResetPeriod\` LONG, \`RebootMessage\` CHAR(0), \`Command\` CHAR(0), \`Actions\` CHAR(0), \`DelayActions\` CHAR(0), \`Component_\` CHAR(72) NOT NULL PRIMARY KEY \`MsiServiceConfigFailureActions\`)"
# Action 1: SC_ACTION_RESTART; Windows repeats the last action for every
# further failure.
q "INSERT INTO \`MsiServiceConfigFailureActions\` (\`MsiServiceConfigFailureActions\`, \`Name\`, \`Event\`, \`ResetPeriod\`, \`Actions\`, \`DelayActions\`, \`Component_\`) VALUES ('AgentRecovery', 'hybridsync', $events, $reset_period_s, '1', '$restart_delay_ms', 'Agent')"
# Between InstallServices (5800) and StartServices (5900), as WiX
# schedules it.
q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('MsiConfigureServices', 'VersionNT>=600', 5850)"

mkdir -p "$out"
dst=$out/hybridsync-$version-x64.msi
cp "$msi" "$dst"
echo "$dst"
