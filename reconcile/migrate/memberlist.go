package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/cloud"
)

// memberListIntent is how the journal records a member list that a write
// sets: its size and a digest, not the list. The list itself is in the
// saga's capture (one copy, saved with the saga), and neither recovery nor
// compensation reads it back from the journal: they re-read the cloud
// list and compare it with the capture. Writing the whole list into each
// entry would put a 65,000-member list (some 2.5 MB of ids) into the
// journal once per member write, and one entry per member would add
// 65,000 fsync'd entries to a step whose progress the cloud list itself
// shows (a rerun reads it and adds only what is missing).
type memberListIntent struct {
	Count int `json:"count"`
	// SHA256 is the hex SHA-256 of the lower-cased ids, sorted, each
	// followed by a newline: it tells whether two entries set the same
	// list.
	SHA256 string `json:"sha256"`
}

func memberIntent(members []string) memberListIntent {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = strings.ToLower(m)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return memberListIntent{Count: len(ids), SHA256: hex.EncodeToString(h.Sum(nil))}
}

// newListIntent is the journal's intent of New-DistributionGroup: the
// list as asked for, its members summarised.
type newListIntent struct {
	List    cloud.NewDistributionGroup `json:"list"`
	Members memberListIntent           `json:"members"`
}

func newListIntentOf(want cloud.NewDistributionGroup) newListIntent {
	list := want
	list.Members = nil
	return newListIntent{List: list, Members: memberIntent(want.Members)}
}
