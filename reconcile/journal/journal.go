package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// SchemaVersion is the journal format this package writes. Open refuses a
// journal with a newer version rather than misreading it, and upgrades an
// older one.
//
// Version 2 added Entry.Sent. Version 1 did not record whether a pending
// write was sent, so upgrading marks every version-1 Pending entry as sent
// at its start: it may have happened.
const SchemaVersion = 2

// DefaultLockTimeout is how long Open waits for another process to release
// the journal.
const DefaultLockTimeout = 5 * time.Second

// FileName is the journal's file name in the agent's state directory.
const FileName = "journal.db"

const idTimeLayout = "20060102T150405.000000Z"

var (
	bucketMeta    = []byte("meta")
	bucketEntries = []byte("entries")
	keySchema     = []byte("schema_version")
)

// ErrLocked is matched (errors.Is) by the error Open returns when another
// process holds the journal.
var ErrLocked = errors.New("journal is locked by another process")

// Options configures Open.
type Options struct {
	// Path of the journal file; created with mode 0600 if missing. Its
	// directory must exist.
	Path string
	// LockTimeout bounds the wait for the file lock. Zero means
	// DefaultLockTimeout (bbolt itself would wait forever); negative is an
	// error.
	LockTimeout time.Duration
	// Clock stamps IDs, Started, Sent and Finished; nil means the system
	// clock.
	Clock clock.Clock
	// Logger receives one line per state change at debug level and per
	// recovery decision at info level; nil discards.
	Logger *slog.Logger
}

// Journal is an open journal. Its methods are safe for concurrent use.
type Journal struct {
	db    *bolt.DB
	path  string
	clock clock.Clock
	log   *slog.Logger
}

// Open opens or creates the journal at opts.Path.
func Open(opts Options) (*Journal, error) {
	if opts.Path == "" {
		return nil, retry.New("journal.Open", retry.Terminal, errors.New("no journal path"))
	}
	timeout := opts.LockTimeout
	switch {
	case timeout < 0:
		return nil, retry.New("journal.Open", retry.Terminal, fmt.Errorf("negative lock timeout %s", timeout))
	case timeout == 0:
		timeout = DefaultLockTimeout
	}
	j := &Journal{path: opts.Path, clock: clock.Or(opts.Clock), log: opts.Logger}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, retry.New("journal.Open", retry.Terminal, fmt.Errorf(
				"another hybridsync holds the journal %s (lock not released within %s): %w", opts.Path, timeout, ErrLocked))
		}
		return nil, retry.New("journal.Open", retry.Terminal, fmt.Errorf("open journal %s: %w", opts.Path, err))
	}
	j.db = db
	if err := db.Update(j.initSchema); err != nil {
		_ = db.Close()
		return nil, retry.New("journal.Open", retry.Terminal, fmt.Errorf("journal %s: %w", opts.Path, err))
	}
	return j, nil
}

func (j *Journal) initSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	entries, err := tx.CreateBucketIfNotExists(bucketEntries)
	if err != nil {
		return err
	}
	raw := meta.Get(keySchema)
	if raw == nil {
		if k, _ := entries.Cursor().First(); k != nil {
			return errors.New("has entries but no schema version")
		}
		return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("unreadable schema version %q", raw)
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this hybridsync supports (%d); upgrade hybridsync", v, SchemaVersion)
	}
	if v < 2 {
		if err := markPendingSent(entries); err != nil {
			return fmt.Errorf("upgrade from schema version %d: %w", v, err)
		}
	}
	if v < SchemaVersion {
		return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	}
	return nil
}

// markPendingSent upgrades version-1 entries: a Pending one may have been
// sent.
func markPendingSent(b *bolt.Bucket) error {
	var upgraded []Entry
	err := b.ForEach(func(k, v []byte) error {
		e, err := decode(k, v)
		if err != nil {
			return err
		}
		if e.State == Pending && e.Sent.IsZero() {
			e.Sent = e.Started
			upgraded = append(upgraded, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range upgraded {
		if err := store(b, &upgraded[i]); err != nil {
			return err
		}
	}
	return nil
}

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// Close releases the file and its lock.
func (j *Journal) Close() error { return j.db.Close() }

// now returns the clock's time in UTC without a monotonic reading, so that
// what is stored is what is read back.
func (j *Journal) now() time.Time { return j.clock.Now().UTC() }

// CorruptError reports an entry that cannot be decoded or is inconsistent.
type CorruptError struct {
	ID  string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal entry %q is corrupt: %v", e.ID, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// TransitionError reports a state change the life cycle does not allow.
type TransitionError struct {
	ID       string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("journal entry %q: cannot go from %s to %s", e.ID, e.From, e.To)
}

func decode(key, raw []byte) (Entry, error) {
	id := string(key)
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Entry{}, &CorruptError{ID: id, Err: err}
	}
	if e.ID != id {
		return Entry{}, &CorruptError{ID: id, Err: fmt.Errorf("stored under a different ID %q", e.ID)}
	}
	if !e.State.valid() {
		return Entry{}, &CorruptError{ID: id, Err: fmt.Errorf("unknown state %q", e.State)}
	}
	return e, nil
}

func classify(op string, err error) error {
	var ce *CorruptError
	var te *TransitionError
	switch {
	case err == nil:
		return nil
	case retry.ClassOf(err) != retry.Unknown:
		return err
	case errors.As(err, &ce):
		return retry.New(op, retry.Terminal, err)
	case errors.As(err, &te):
		return retry.New(op, retry.Conflict, err)
	}
	return retry.New(op, retry.Terminal, err)
}

func notFound(op, id string) error {
	return retry.New(op, retry.NotFound, fmt.Errorf("journal entry %q not found", id))
}

// load reads and decodes one entry inside tx.
func load(op string, b *bolt.Bucket, id string) (Entry, error) {
	raw := b.Get([]byte(id))
	if raw == nil {
		return Entry{}, notFound(op, id)
	}
	return decode([]byte(id), raw)
}

func store(b *bolt.Bucket, e *Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry %q: %w", e.ID, err)
	}
	return b.Put([]byte(e.ID), raw)
}

// Begin records e as a Pending intent and returns it with ID, State and
// Started set. The record is committed and fsynced before Begin returns:
// only then may the caller perform the write.
//
// Target, Object, Operation, Intent and Before are required; ID and State
// must be empty. If UndoOf is set, that entry must be Done and not already
// being undone by another Pending or Done entry.
func (j *Journal) Begin(e Entry) (Entry, error) {
	const op = "journal.Begin"
	if err := e.validateNew(); err != nil {
		return Entry{}, retry.New(op, retry.Terminal, err)
	}
	now := j.now()
	e.State = Pending
	e.Started = now
	e.Finished = time.Time{}
	e.Sent = time.Time{}
	e.Refused = false
	e.Error = ""
	e.UndoneBy = ""
	e.UndoneAt = time.Time{}
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			e.ID = fmt.Sprintf("%s-%08x", now.Format(idTimeLayout), uint32(seq))
			if b.Get([]byte(e.ID)) == nil {
				break
			}
		}
		if e.UndoOf != "" {
			if err := claimUndo(op, b, e.UndoOf, e.ID); err != nil {
				return err
			}
		}
		return store(b, &e)
	})
	if err != nil {
		return Entry{}, classify(op, err)
	}
	j.log.Debug("journal intent", "id", e.ID, "run", e.RunID, "target", e.Target, "object", e.Object, "operation", e.Operation)
	return e, nil
}

// claimUndo checks that orig may be undone and records undoID on it.
func claimUndo(op string, b *bolt.Bucket, origID, undoID string) error {
	orig, err := load(op, b, origID)
	if err != nil {
		return err
	}
	if orig.State != Done {
		return retry.New(op, retry.Conflict, fmt.Errorf("cannot undo journal entry %q: it is %s, not %s", origID, orig.State, Done))
	}
	if orig.UndoneBy != "" {
		prev, err := load(op, b, orig.UndoneBy)
		if err != nil {
			return err
		}
		if prev.State == Pending || prev.State == Done {
			return retry.New(op, retry.Conflict, fmt.Errorf("journal entry %q is already being undone by %q (%s)", origID, prev.ID, prev.State))
		}
	}
	orig.UndoneBy = undoID
	return store(b, &orig)
}

// transition moves entry id to state to in one Update, after mutate.
func (j *Journal) transition(op, id string, to State, mutate func(tx *bolt.Bucket, e *Entry, now time.Time) error) error {
	now := j.now()
	var from State
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		e, err := load(op, b, id)
		if err != nil {
			return err
		}
		from = e.State
		if !allowed(e.State, to) {
			return &TransitionError{ID: id, From: e.State, To: to}
		}
		e.State = to
		if to != Undone {
			e.Finished = now
		}
		if mutate != nil {
			if err := mutate(b, &e, now); err != nil {
				return err
			}
		}
		return store(b, &e)
	})
	if err != nil {
		return classify(op, err)
	}
	j.log.Debug("journal transition", "id", id, "from", from, "to", to)
	return nil
}

// Done records that the write of entry id happened. A non-empty after
// replaces the entry's After with the observed after-image. If the entry
// undoes another (UndoOf), that entry becomes Undone in the same
// transaction.
func (j *Journal) Done(id string, after json.RawMessage) error {
	const op = "journal.Done"
	if len(after) > 0 && !json.Valid(after) {
		return retry.New(op, retry.Terminal, fmt.Errorf("journal entry %q: after is not valid JSON", id))
	}
	return j.transition(op, id, Done, func(b *bolt.Bucket, e *Entry, now time.Time) error {
		if len(after) > 0 {
			e.After = after
		}
		if e.UndoOf == "" {
			return nil
		}
		orig, err := load(op, b, e.UndoOf)
		if err != nil {
			return err
		}
		if orig.UndoneBy != e.ID {
			return retry.New(op, retry.Conflict, fmt.Errorf("journal entry %q: undo target %q names undo entry %q", e.ID, orig.ID, orig.UndoneBy))
		}
		if !allowed(orig.State, Undone) {
			return &TransitionError{ID: orig.ID, From: orig.State, To: Undone}
		}
		orig.State = Undone
		orig.UndoneAt = now
		return store(b, &orig)
	})
}

// Fail records that the write of entry id was refused and nothing was
// applied. cause is stored as text.
func (j *Journal) Fail(id string, cause error) error {
	msg := "unspecified failure"
	if cause != nil {
		msg = cause.Error()
	}
	return j.transition("journal.Fail", id, Failed, func(_ *bolt.Bucket, e *Entry, _ time.Time) error {
		e.Error = msg
		return nil
	})
}

// Refuse is Fail for a write the target answered and refused: nothing was
// applied, and the same write would be refused again (Entry.Refused).
func (j *Journal) Refuse(id string, cause error) error {
	msg := "refused"
	if cause != nil {
		msg = cause.Error()
	}
	return j.transition("journal.Refuse", id, Failed, func(_ *bolt.Bucket, e *Entry, _ time.Time) error {
		e.Error, e.Refused = msg, true
		return nil
	})
}

// MarkSent records, before the write of Pending entry id is sent, that it
// is about to be: from then on its outcome is unknown until the target
// says. It returns the time recorded. It is an error for an entry that is
// not Pending or was marked already.
func (j *Journal) MarkSent(id string) (time.Time, error) {
	const op = "journal.MarkSent"
	now := j.now()
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		e, err := load(op, b, id)
		if err != nil {
			return err
		}
		if e.State != Pending || !e.Sent.IsZero() {
			return retry.New(op, retry.Conflict, fmt.Errorf("journal entry %q is %s (sent %v): only an unsent pending entry can be marked sent", id, e.State, !e.Sent.IsZero()))
		}
		e.Sent = now
		return store(b, &e)
	})
	if err != nil {
		return time.Time{}, classify(op, err)
	}
	j.log.Debug("journal sent", "id", id)
	return now, nil
}

// MarkRolledBack records that the write of entry id was (partly) applied
// and has been compensated: the object is back at its before-image.
func (j *Journal) MarkRolledBack(id string) error {
	return j.transition("journal.MarkRolledBack", id, RolledBack, nil)
}

// MarkSuperseded records that the outcome of entry id cannot be told
// because the object changed since; cause (what was found) is stored as
// text. Nothing is written to the object.
func (j *Journal) MarkSuperseded(id string, cause error) error {
	msg := "the object changed since the intent"
	if cause != nil {
		msg = cause.Error()
	}
	return j.transition("journal.MarkSuperseded", id, Superseded, func(_ *bolt.Bucket, e *Entry, _ time.Time) error {
		e.Error = msg
		return nil
	})
}

// Get returns entry id; an unknown id is classed retry.NotFound.
func (j *Journal) Get(id string) (Entry, error) {
	const op = "journal.Get"
	var e Entry
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = load(op, tx.Bucket(bucketEntries), id)
		return err
	})
	return e, classify(op, err)
}

// ListFilter selects entries for List. Zero fields match everything.
type ListFilter struct {
	State  State
	RunID  string
	Target Target
	Object string
	// Limit caps the number of entries returned; zero or less means no cap.
	Limit int
}

func (f ListFilter) match(e *Entry) bool {
	return (f.State == "" || e.State == f.State) &&
		(f.RunID == "" || e.RunID == f.RunID) &&
		(f.Target == "" || e.Target == f.Target) &&
		(f.Object == "" || e.Object == f.Object)
}

// List returns the entries matching f, newest (highest ID) first. A corrupt
// entry fails the whole call with an error naming it.
func (j *Journal) List(f ListFilter) ([]Entry, error) {
	const op = "journal.List"
	var out []Entry
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if f.match(&e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(op, err)
	}
	return out, nil
}

// Pending returns the intents without an outcome, oldest first: what a
// restart must resolve. A corrupt entry fails the call (it might be one).
func (j *Journal) Pending() ([]Entry, error) {
	const op = "journal.Pending"
	var out []Entry
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if e.State == Pending {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(op, err)
	}
	return out, nil
}
