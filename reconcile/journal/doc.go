// Package journal is hybridsync's write-ahead journal of directory writes.
//
// The rule it serves: before any write to AD or the cloud, record the
// object's before-image and the intent (fsync'd); after the write, record
// the outcome. A restart then resumes or compensates instead of guessing.
//
// The journal is a bbolt file. Every state change is one bbolt Update, which
// commits and fsyncs before it returns, so a caller that got nil from Begin
// may perform the write knowing a crash cannot lose the intent. bbolt holds
// an exclusive flock on the file while it is open; Open always sets a lock
// timeout (bbolt would otherwise wait forever), so a second hybridsync fails
// fast with an error naming the path.
//
// # Life of an entry
//
//	e, err := j.Begin(journal.Entry{RunID: run, Target: journal.TargetAD,
//		Object: dn, Operation: "ad.Modify", Intent: changes, Before: image})
//	j.MarkSent(e.ID)              // just before sending the write
//	// ... perform the write ...
//	j.Done(e.ID, observedAfter)   // or j.Fail / j.Refuse if nothing was applied
//
// States and the only transitions allowed:
//
//	Pending -> Done | Failed | RolledBack | Superseded
//	Done    -> Undone   (only through the Done of an entry whose UndoOf names it)
//
// A Pending entry is first only an intent; MarkSent records (fsync'd) that
// the write is about to be sent. An entry that was never sent cannot have
// happened; one that was sent may have, whatever the connection said, until
// the target proves otherwise.
//
// An undo is itself a journalled write: Begin an entry with UndoOf set to the
// original's ID (the original must be Done and not already being undone),
// perform the compensating write, then Done the undo entry; that same
// transaction marks the original Undone, so a crash can never leave the two
// disagreeing.
//
// # Restart
//
// Pending returns the intents that have no outcome, oldest first. Recover
// hands each to a resolver that re-reads the target and says whether the
// write happened; it never replays a write blindly.
//
// Errors are classified with package retry: an unknown ID is retry.NotFound,
// an invalid transition retry.Conflict (re-read, then decide), a corrupt
// entry or a journal from a newer hybridsync retry.Terminal.
package journal
