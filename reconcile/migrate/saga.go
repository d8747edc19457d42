package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// Method is how a group moves to the cloud.
type Method string

const (
	// MethodSOA converts the synced group's Source of Authority.
	MethodSOA Method = "soa"
	// MethodRecreate creates a new cloud list and takes the on-premises
	// group out of sync.
	MethodRecreate Method = "recreate"
)

// Step names one step of a path. The strings are stable: they are stored
// in the journal and are metric label values.
type Step string

const (
	StepCapture           Step = "capture"
	StepConvert           Step = "convert"
	StepAwaitCloudManaged Step = "await-cloud-managed"
	StepRoutingAddress    Step = "routing-address"
	StepRoutingContact    Step = "routing-contact"
	StepContactMember     Step = "contact-member"
	StepCreate            Step = "create"
	StepMove              Step = "move"
	StepAwaitTwinDeleted  Step = "await-twin-deleted"
	StepTakeAddresses     Step = "take-addresses"
	StepRetire            Step = "retire"
	StepDynamicList       Step = "dynamic-list"
	StepVerify            Step = "verify"
	StepDeleteOriginal    Step = "delete-original"
	// StepRepointCloud adds the new cloud list wherever the synced twin
	// is named in the cloud (recreate path, before the move deletes the
	// twin); its undo names the restored twin again.
	StepRepointCloud Step = "repoint-cloud-references"
	// StepRepoint points the on-premises references to the group at the
	// routing contact (recreate path with hybrid mail flow).
	StepRepoint Step = "repoint-references"
)

// Steps returns a path's steps in order; hybridMailFlow and keep decide
// the optional ones of the recreate path.
func Steps(m Method, hybridMailFlow, keepOriginal bool) []Step {
	switch m {
	case MethodSOA:
		return []Step{StepCapture, StepConvert, StepAwaitCloudManaged, StepRoutingAddress, StepRoutingContact, StepContactMember, StepVerify}
	case MethodRecreate:
		s := []Step{StepCapture, StepCreate, StepRepointCloud, StepMove, StepAwaitTwinDeleted, StepTakeAddresses}
		if hybridMailFlow {
			s = append(s, StepRoutingContact)
		}
		s = append(s, StepRetire)
		if hybridMailFlow {
			s = append(s, StepDynamicList, StepRepoint)
		}
		s = append(s, StepVerify)
		if !keepOriginal {
			s = append(s, StepDeleteOriginal)
		}
		return s
	}
	return nil
}

// AllSteps lists every step, for bounded metric labels.
func AllSteps() []Step {
	return []Step{StepCapture, StepConvert, StepAwaitCloudManaged, StepRoutingAddress, StepRoutingContact, StepContactMember,
		StepCreate, StepMove, StepAwaitTwinDeleted, StepTakeAddresses, StepRetire, StepDynamicList, StepVerify, StepDeleteOriginal,
		StepRepointCloud, StepRepoint}
}

// State is where a saga is.
type State string

const (
	// StateRunning: a step is being carried out (or will be when the saga
	// is resumed).
	StateRunning State = "running"
	// StateWaiting: a step waits for the sync engine; Waiting says what for
	// and until when.
	StateWaiting State = "waiting"
	// StateMigrated: every step is done.
	StateMigrated State = "migrated"
	// StateCompensating: a step failed for good (or a rollback was asked
	// for) and the steps done are being undone.
	StateCompensating State = "compensating"
	// StateRolledBack: both directories are back at the before-images.
	StateRolledBack State = "rolled_back"
	// StateFailed: compensation itself could not finish; Error says what
	// is left, and a later run retries it.
	StateFailed State = "failed"
)

// AllStates lists every state, for bounded metric labels.
func AllStates() []State {
	return []State{StateRunning, StateWaiting, StateMigrated, StateCompensating, StateRolledBack, StateFailed}
}

// Terminal reports whether nothing more happens to a saga in s.
func (s State) Terminal() bool { return s == StateMigrated || s == StateRolledBack }

// Wait is what a waiting saga waits for.
type Wait struct {
	// For says what, for the admin ("the sync cycle that deletes the
	// synced twin of sales@contoso.com").
	For   string    `json:"for"`
	Since time.Time `json:"since"`
	// Deadline is Since plus the configured wait; past it the saga is
	// Overdue.
	Deadline time.Time `json:"deadline"`
	// Triggered is when the sync trigger last ran for this wait.
	Triggered time.Time `json:"triggered,omitzero"`
	// Overdue is set once Deadline has passed.
	Overdue bool `json:"overdue,omitempty"`
}

// Saga is the durable state of one group's migration, stored as a journal
// record (kind RecordKind, key ID) and rewritten at every step boundary.
type Saga struct {
	// ID is the on-premises group's objectGUID, lower case.
	ID string `json:"id"`
	// Group is the group as configured (address or objectGUID).
	Group  string `json:"group"`
	Method Method `json:"method"`
	// Reason says why Method was chosen.
	Reason string `json:"reason"`
	// Steps are the path's steps; Step is the current one (the next to
	// do, or the one being undone while compensating).
	Steps []Step `json:"steps"`
	Step  Step   `json:"step"`
	// Done are the steps completed, in order (compensation undoes them in
	// reverse).
	Done  []Step `json:"done"`
	State State  `json:"state"`
	// RunID groups the saga's journal entries.
	RunID   string    `json:"runID"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// StepStarted is when the current step started.
	StepStarted time.Time `json:"stepStarted"`
	Waiting     *Wait     `json:"waiting,omitempty"`
	// Options are the group's options as the saga started.
	Options Options `json:"options"`
	// Capture is what the saga read before writing anything: the
	// before-images of the group and its cloud twin.
	Capture *Capture `json:"capture,omitempty"`
	// Made is what the saga created or changed, for the later steps and
	// for compensation.
	Made Made `json:"made"`
	// Error is the cause of a compensation or a failure; FailedStep the
	// step it came from.
	Error      string `json:"error,omitempty"`
	FailedStep Step   `json:"failedStep,omitempty"`
	// Blocked, when set, says why the current step cannot proceed for now
	// (the tenant or the DC unreachable); the saga resumes where it is.
	Blocked string `json:"blocked,omitempty"`
}

// Options are one group's migration options.
type Options struct {
	// Method is "auto", "soa" or "recreate".
	Method string `json:"method"`
	// NoSyncOU is where the recreate path moves the group, and where the
	// routing contact and the dynamic list are made.
	NoSyncOU             string `json:"nosyncOU"`
	HybridMailFlow       bool   `json:"hybridMailFlow"`
	KeepOriginal         bool   `json:"keepOriginal"`
	SkipNestedGroupCheck bool   `json:"skipNestedGroupCheck"`
	// GroupType is "" (keep), "distribution" or "security".
	GroupType string `json:"groupType,omitempty"`
}

// Made is what a saga created or changed.
type Made struct {
	// CloudListID is the new cloud list's ExternalDirectoryObjectId
	// (recreate), or the converted group's id (SOA).
	CloudListID string `json:"cloudListID,omitempty"`
	// TempAlias is the new list's temporary alias (and name) until it takes
	// the group's own.
	TempAlias string `json:"tempAlias,omitempty"`
	// MovedDN is the group's DN in the no-sync OU.
	MovedDN string `json:"movedDN,omitempty"`
	// ContactDN is the routing contact's DN.
	ContactDN string `json:"contactDN,omitempty"`
	// DynamicListDN is the on-premises dynamic list's DN.
	DynamicListDN string `json:"dynamicListDN,omitempty"`
	// RoutingAddress is the tenant routing address (alias@routing domain).
	RoutingAddress string `json:"routingAddress,omitempty"`
	// Converted is set once the SOA PATCH was sent.
	Converted bool `json:"converted,omitempty"`
	// SyncCycles counts the sync cycles waited for (waits for what a
	// cycle shows); Triggers the sync triggers run.
	SyncCycles int `json:"syncCycles,omitempty"`
	Triggers   int `json:"triggers,omitempty"`
	// Waited is the time spent waiting for the directories (sync cycles,
	// Graph and Exchange Online converging), summed over the waits.
	Waited time.Duration `json:"waited,omitempty"`
	// Baseline is the cloud list as the migration left it (verify), to
	// tell what was changed in the cloud since; an address change by
	// ChangeAddress updates its addresses.
	Baseline *Baseline `json:"baseline,omitempty"`
	// AddressChanges are the changes of the list's primary address and
	// alias made since the migration (ChangeAddress), in order.
	AddressChanges []AddressChange `json:"addressChanges,omitempty"`
}

// Baseline is a cloud list's members, addresses and owners.
type Baseline struct {
	Members   []string `json:"members"`
	Addresses []string `json:"addresses"`
	Owners    []string `json:"owners"`
}

// RecordKind is the journal record kind of sagas.
const RecordKind = "migration"

func (s *Saga) clone() *Saga {
	c := *s
	c.Steps = slices.Clone(s.Steps)
	c.Done = slices.Clone(s.Done)
	if s.Waiting != nil {
		w := *s.Waiting
		c.Waiting = &w
	}
	return &c
}

// stepIndex returns the index of st in the path, or -1.
func (s *Saga) stepIndex(st Step) int { return slices.Index(s.Steps, st) }

// save writes s as its journal record.
func save(j *journal.Journal, s *Saga) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("migrate: encode saga %s: %w", s.ID, err)
	}
	if err := j.PutRecord(RecordKind, s.ID, b); err != nil {
		return fmt.Errorf("migrate: save saga %s: %w", s.ID, err)
	}
	return nil
}

// Load reads the saga of group id; a missing one is classed
// retry.NotFound.
func Load(j *journal.Journal, id string) (*Saga, error) {
	raw, err := j.GetRecord(RecordKind, id)
	if err != nil {
		return nil, err
	}
	var s Saga
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, retry.New("migrate.Load", retry.Terminal, fmt.Errorf("saga %s in the journal cannot be read: %w", id, err))
	}
	return &s, nil
}

// List returns every saga in the journal.
func List(j *journal.Journal) ([]*Saga, error) {
	recs, err := j.ListRecords(RecordKind)
	if err != nil {
		return nil, err
	}
	out := make([]*Saga, 0, len(recs))
	var bad []error
	for _, r := range recs {
		var s Saga
		if err := json.Unmarshal(r.Value, &s); err != nil {
			bad = append(bad, fmt.Errorf("saga %s: %w", r.Key, err))
			continue
		}
		out = append(out, &s)
	}
	if len(bad) > 0 {
		return out, retry.New("migrate.List", retry.Terminal, fmt.Errorf("journal holds sagas that cannot be read: %w", errors.Join(bad...)))
	}
	return out, nil
}
