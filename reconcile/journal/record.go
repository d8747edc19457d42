package journal

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// bucketRecords holds one nested bucket per record kind.
var bucketRecords = []byte("records")

// Records are small named documents that a long-running operation keeps
// beside its entries, in the same fsync'd file: a migration saga's
// position, what it captured before it started and what it made. A record
// is written whole by PutRecord, in one transaction; the journal stores
// its JSON verbatim.

// PutRecord stores value as the record key of kind, replacing any, and
// returns once it is committed and fsynced.
func (j *Journal) PutRecord(kind, key string, value json.RawMessage) error {
	const op = "journal.PutRecord"
	switch {
	case kind == "" || key == "":
		return retry.New(op, retry.Terminal, errors.New("a record needs a kind and a key"))
	case !json.Valid(value):
		return retry.New(op, retry.Terminal, fmt.Errorf("record %s/%s is not valid JSON", kind, key))
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketRecords)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
	return classify(op, err)
}

// GetRecord returns the record key of kind; a missing one is classed
// retry.NotFound.
func (j *Journal) GetRecord(kind, key string) (json.RawMessage, error) {
	const op = "journal.GetRecord"
	var out json.RawMessage
	err := j.db.View(func(tx *bolt.Tx) error {
		if b := recordBucket(tx, kind); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append(json.RawMessage(nil), v...)
			}
		}
		if out == nil {
			return retry.New(op, retry.NotFound, fmt.Errorf("no %s record %q", kind, key))
		}
		return nil
	})
	return out, classify(op, err)
}

// Record is one record of a kind.
type Record struct {
	Key   string
	Value json.RawMessage
}

// ListRecords returns every record of kind, in key order.
func (j *Journal) ListRecords(kind string) ([]Record, error) {
	const op = "journal.ListRecords"
	var out []Record
	err := j.db.View(func(tx *bolt.Tx) error {
		b := recordBucket(tx, kind)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, Record{Key: string(k), Value: append(json.RawMessage(nil), v...)})
			return nil
		})
	})
	return out, classify(op, err)
}

// DeleteRecord removes the record key of kind; a missing one is not an
// error.
func (j *Journal) DeleteRecord(kind, key string) error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		if b := recordBucket(tx, kind); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
	return classify("journal.DeleteRecord", err)
}

func recordBucket(tx *bolt.Tx, kind string) *bolt.Bucket {
	root := tx.Bucket(bucketRecords)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(kind))
}
