package config

import "github.com/hybridsync/hybridsync/ad"

// SyncScope is the sync engine's scope the ad section describes: sync_ous
// (base_dn when none) minus nosync_ou. The config's own checks, the reads
// and the planner all use it.
func (a AD) SyncScope() ad.SyncScope {
	ous := a.SyncOUs
	if len(ous) == 0 {
		ous = []string{a.BaseDN}
	}
	var exclude []string
	if a.NoSyncOU != "" {
		exclude = []string{a.NoSyncOU}
	}
	return ad.NewSyncScope(ous, exclude)
}
