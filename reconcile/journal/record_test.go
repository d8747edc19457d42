package journal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestRecords(t *testing.T) {
	j, path := tempJournal(t, fixedClock(t0))
	if _, err := j.GetRecord("saga", "g1"); retry.ClassOf(err) != retry.NotFound {
		t.Fatalf("missing record: %v", err)
	}
	if err := j.PutRecord("saga", "g2", json.RawMessage(`{"step":"capture"}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.PutRecord("saga", "g1", json.RawMessage(`{"step":"move"}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.PutRecord("saga", "g1", json.RawMessage(`{"step":"rename"}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.PutRecord("saga", "bad", json.RawMessage(`{`)); retry.ClassOf(err) != retry.Terminal {
		t.Fatalf("invalid JSON: %v", err)
	}
	// Records survive a reopen.
	j.Close()
	j = openAt(t, path, fixedClock(t0.Add(time.Hour)))
	defer j.Close()
	got, err := j.GetRecord("saga", "g1")
	if err != nil || string(got) != `{"step":"rename"}` {
		t.Fatalf("GetRecord = %s, %v", got, err)
	}
	all, err := j.ListRecords("saga")
	if err != nil || len(all) != 2 || all[0].Key != "g1" || all[1].Key != "g2" {
		t.Fatalf("ListRecords = %+v, %v", all, err)
	}
	if none, err := j.ListRecords("other"); err != nil || len(none) != 0 {
		t.Fatalf("another kind: %+v %v", none, err)
	}
	if err := j.DeleteRecord("saga", "g2"); err != nil {
		t.Fatal(err)
	}
	if all, _ := j.ListRecords("saga"); len(all) != 1 {
		t.Fatalf("after delete: %+v", all)
	}
}
