package daemon

import (
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// A group removed from the config while its migration is under way (or
// failed half-way) stays in the worker's list, with the options it was
// started with, until its saga is migrated or rolled back; configured
// groups come first, each once.
func TestWorkListFinishesRemovedGroups(t *testing.T) {
	configured := []setup.Migration{{Group: "sales@example.com"}, {Group: "{0000000b-0000-4000-8000-00000000000b}"}}
	sagas := []*migrate.Saga{
		{ID: "0000000a-0000-4000-8000-00000000000a", Group: "sales@example.com", State: migrate.StateWaiting},
		{ID: "0000000b-0000-4000-8000-00000000000b", Group: "{0000000b-0000-4000-8000-00000000000b}", State: migrate.StateMigrated},
		{ID: "0000000c-0000-4000-8000-00000000000c", Group: "removed-running@example.com", State: migrate.StateRunning,
			Options: migrate.Options{Method: "recreate", KeepOriginal: true}},
		{ID: "0000000d-0000-4000-8000-00000000000d", Group: "removed-compensating@example.com", State: migrate.StateCompensating},
		{ID: "0000000e-0000-4000-8000-00000000000e", Group: "removed-failed@example.com", State: migrate.StateFailed},
		{ID: "0000000f-0000-4000-8000-00000000000f", Group: "removed-done@example.com", State: migrate.StateMigrated},
		{ID: "00000010-0000-4000-8000-000000000010", Group: "removed-undone@example.com", State: migrate.StateRolledBack},
	}
	var got []string
	work := workList(configured, sagas)
	for _, g := range work {
		got = append(got, g.Group)
	}
	want := []string{"sales@example.com", "{0000000b-0000-4000-8000-00000000000b}",
		"removed-running@example.com", "removed-compensating@example.com", "removed-failed@example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("work %q, want %q", got, want)
	}
	if o := work[2].Options; o.Method != "recreate" || !o.KeepOriginal {
		t.Errorf("a removed group's options %+v, want those it was started with", o)
	}
}

// The service starts the groups of the first wave with a group not
// migrated; later waves wait for it.
func TestCurrentWave(t *testing.T) {
	b := &migrate.Batch{Waves: []migrate.Wave{{Groups: []string{"a@x", "b@x"}}, {Groups: []string{"p@x"}}}}
	migrated := func(g string) *migrate.Saga { return &migrate.Saga{Group: g, State: migrate.StateMigrated} }
	for _, tc := range []struct {
		sagas []*migrate.Saga
		want  int
	}{
		{nil, 0},
		{[]*migrate.Saga{migrated("a@x")}, 0},
		{[]*migrate.Saga{migrated("a@x"), {Group: "b@x", State: migrate.StateWaiting}}, 0},
		{[]*migrate.Saga{migrated("a@x"), migrated("b@x")}, 1},
		{[]*migrate.Saga{migrated("a@x"), migrated("b@x"), migrated("p@x")}, 2},
	} {
		if got := currentWave(b, tc.sagas); got != tc.want {
			t.Errorf("%d sagas: wave %d, want %d", len(tc.sagas), got, tc.want)
		}
	}
	if got := currentWave(nil, nil); got != -1 {
		t.Errorf("no batch: %d, want -1", got)
	}
}
