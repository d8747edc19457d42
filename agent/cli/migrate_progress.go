package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
)

// progressFile is where a running migrate run or rollback keeps the sagas
// as it last saw them, in state_dir, for migrate status and plan while it
// holds the journal.
const progressFile = "migrations-progress.json"

// journalReadWait is how long status and plan wait for the journal before
// reading progressFile instead.
const journalReadWait = 3 * time.Second

// progressSnapshot is progressFile's content.
type progressSnapshot struct {
	Written time.Time       `json:"written"`
	PID     int             `json:"pid"`
	Sagas   []*migrate.Saga `json:"sagas"`
}

// progressReport prints each change of a saga's position and, once it
// knows the state directory, keeps progressFile up to date.
type progressReport struct {
	a     *app
	path  string
	last  map[string]string
	sagas map[string]*migrate.Saga
	order []string
}

func (a *app) progress() *progressReport {
	return &progressReport{a: a, last: map[string]string{}, sagas: map[string]*migrate.Saga{}}
}

// keepIn starts keeping the snapshot in st's state directory, from the
// sagas of j.
func (p *progressReport) keepIn(st *setup.Setup, j *journal.Journal) {
	p.path = filepath.Join(st.StateDir, progressFile)
	if sagas, err := migrate.List(j); err == nil {
		for _, s := range sagas {
			p.record(s)
		}
	}
	p.write()
}

// close removes the snapshot when the run ends: the journal says the
// rest. (A run killed leaves it, but also releases the journal, which
// status then reads.)
func (p *progressReport) close() {
	if p.path != "" {
		_ = os.Remove(p.path)
	}
}

// saga is the engine's Progress observer.
func (p *progressReport) saga(s *migrate.Saga) {
	line := migrate.Describe(s, time.Now())
	if line != p.last[s.ID] {
		fmt.Fprintf(p.a.stdout, "  %s  %s\n", time.Now().UTC().Format("15:04:05"), line)
		p.last[s.ID] = line
	}
	p.record(s)
	p.write()
}

func (p *progressReport) record(s *migrate.Saga) {
	if _, ok := p.sagas[s.ID]; !ok {
		p.order = append(p.order, s.ID)
	}
	c := *s
	p.sagas[s.ID] = &c
}

// write replaces the snapshot (a new file renamed over the old one, so a
// reader never sees half of it); a failure only costs status its fallback.
func (p *progressReport) write() {
	if p.path == "" {
		return
	}
	snap := progressSnapshot{Written: time.Now().UTC(), PID: os.Getpid()}
	for _, id := range p.order {
		snap.Sagas = append(snap.Sagas, p.sagas[id])
	}
	b, err := json.Marshal(snap)
	if err == nil {
		tmp := p.path + ".new"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p.path)
		}
	}
	if err != nil {
		p.a.logger().Warn("migrate: cannot write the progress file for migrate status", "error", err)
	}
}

// readSagas reads the sagas of the config's journal without creating it
// (none when there is no journal yet). While a migrate run or rollback
// holds the journal, it reads what that run last wrote to progressFile
// instead, and says so in note.
func readSagas(st *setup.Setup) (sagas []*migrate.Saga, note string, err error) {
	j, err := st.OpenJournalWithin(false, journalReadWait)
	switch {
	case isNotExist(err):
		return nil, "", nil
	case errors.Is(err, journal.ErrLocked):
		b, rerr := os.ReadFile(filepath.Join(st.StateDir, progressFile))
		var snap progressSnapshot
		if rerr != nil || json.Unmarshal(b, &snap) != nil {
			return nil, "", fmt.Errorf("%w (a migrate run, rollback or apply, or the service, is using it; try again when it ends)", err)
		}
		return snap.Sagas, fmt.Sprintf("the journal is in use by a running migration (pid %d): as it reported at %s",
			snap.PID, snap.Written.Format(time.RFC3339)), nil
	case err != nil:
		return nil, "", err
	}
	defer j.Close()
	sagas, err = migrate.List(j)
	return sagas, "", err
}
