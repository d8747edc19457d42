package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
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
	Batch   *migrate.Batch  `json:"batch,omitempty"`
}

// progressReport prints each change of a saga's position and, once it
// knows the state directory, keeps progressFile up to date.
type progressReport struct {
	// mu guards the report: the groups of a wave run at once.
	mu    sync.Mutex
	batch *migrate.Batch
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
	p.mu.Lock()
	defer p.mu.Unlock()
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

// setBatch records the batch's waves as they progress.
func (p *progressReport) setBatch(b *migrate.Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := *b
	c.Waves = slices.Clone(b.Waves)
	p.batch = &c
	p.write()
}

// printf prints a line of the run, serialised with the progress lines.
func (p *progressReport) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.a.stdout, format, args...)
}

// eprintf prints an error line of the run on stderr.
func (p *progressReport) eprintf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.a.stderr, format, args...)
}

// write replaces the snapshot (a new file renamed over the old one, so a
// reader never sees half of it); a failure only costs status its fallback.
func (p *progressReport) write() {
	if p.path == "" {
		return
	}
	snap := progressSnapshot{Written: time.Now().UTC(), PID: os.Getpid(), Batch: p.batch}
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
	sagas, _, note, err = readMigrations(st)
	return sagas, note, err
}

// readMigrations is readSagas with the most recent batch (nil when none
// was run).
func readMigrations(st *setup.Setup) (sagas []*migrate.Saga, batch *migrate.Batch, note string, err error) {
	j, err := st.OpenJournalWithin(false, journalReadWait)
	switch {
	case isNotExist(err):
		return nil, nil, "", nil
	case errors.Is(err, journal.ErrLocked):
		b, rerr := os.ReadFile(filepath.Join(st.StateDir, progressFile))
		var snap progressSnapshot
		if rerr != nil || json.Unmarshal(b, &snap) != nil {
			return nil, nil, "", fmt.Errorf("%w (a migrate run, rollback or apply, or the service, is using it; try again when it ends)", err)
		}
		return snap.Sagas, snap.Batch, fmt.Sprintf("the journal is in use by a running migration (pid %d): as it reported at %s",
			snap.PID, snap.Written.Format(time.RFC3339)), nil
	case err != nil:
		return nil, nil, "", err
	}
	defer j.Close()
	if sagas, err = migrate.List(j); err != nil {
		return nil, nil, "", err
	}
	batches, err := migrate.ListBatches(j)
	if err != nil {
		return nil, nil, "", err
	}
	if len(batches) > 0 {
		batch = batches[0]
	}
	return sagas, batch, "", nil
}
