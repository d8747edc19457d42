package mailflow

import (
	"context"
	"sync"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
)

// ResolveFunc resolves an address from a side: (*Resolver).Resolve.
type ResolveFunc func(ctx context.Context, side Side, addr string) (Resolution, error)

// Probe resolves a set of addresses on both sides every interval, from
// StartProbe to Stop, and keeps for each address and side the longest
// window in which the address reached no deliverable recipient.
type Probe struct {
	resolve  ResolveFunc
	clk      clock.Clock
	interval time.Duration
	cancel   context.CancelFunc
	done     chan struct{}

	mu    sync.Mutex
	rep   Report
	state map[key]*outage
}

type key struct {
	addr string
	side Side
}

// outage is the current window without a deliverable recipient.
type outage struct {
	open  bool
	start time.Time
}

// Report is what a Probe saw.
type Report struct {
	Started time.Time `json:"started"`
	Stopped time.Time `json:"stopped,omitzero"`
	// Rounds counts the rounds (every address on both sides) begun.
	Rounds    int             `json:"rounds"`
	Addresses []AddressReport `json:"addresses"`
}

// AddressReport is one address on one side.
type AddressReport struct {
	Address string `json:"address"`
	Side    Side   `json:"side"`
	// Samples counts resolutions made; Errors those that failed (a
	// directory read failed: the outcome is unknown, and such a sample
	// neither begins nor ends a window); Undelivered those that reached no
	// deliverable recipient.
	Samples     int `json:"samples"`
	Errors      int `json:"errors"`
	Undelivered int `json:"undelivered"`
	// LongestOutage is the longest window in which the address reached no
	// deliverable recipient: from the first sample that found none to the
	// first one after it that found one (or to the end of the probe). It
	// is accurate to about one interval either way; a window shorter than
	// the interval may go unseen.
	LongestOutage time.Duration `json:"longestOutage"`
	// OutageStart is when that window began.
	OutageStart time.Time `json:"outageStart,omitzero"`
	// Last is the last successful resolution; LastError the last failure.
	Last      Resolution `json:"last"`
	LastError string     `json:"lastError,omitempty"`
}

// StartProbe starts resolving addresses with resolve on both sides, one
// round now and then one every interval (a round that takes longer is
// followed by the next at once, never by two), until Stop or ctx ends.
// clk defaults to the system clock.
func StartProbe(ctx context.Context, resolve ResolveFunc, addresses []string, interval time.Duration, clk clock.Clock) *Probe {
	clk = clock.Or(clk)
	ctx, cancel := context.WithCancel(ctx)
	p := &Probe{resolve: resolve, clk: clk, interval: interval, cancel: cancel, done: make(chan struct{}), state: map[key]*outage{}}
	p.rep.Started = clk.Now()
	for _, a := range addresses {
		for _, s := range Sides {
			p.rep.Addresses = append(p.rep.Addresses, AddressReport{Address: a, Side: s})
			p.state[key{a, s}] = &outage{}
		}
	}
	go p.run(ctx)
	return p
}

func (p *Probe) run(ctx context.Context) {
	defer close(p.done)
	for {
		start := p.clk.Now()
		p.round(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := p.interval - p.clk.Now().Sub(start)
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-p.clk.After(wait):
		}
	}
}

// round resolves every address on both sides once.
func (p *Probe) round(ctx context.Context) {
	p.mu.Lock()
	p.rep.Rounds++
	n := len(p.rep.Addresses)
	p.mu.Unlock()
	for i := 0; i < n; i++ {
		p.mu.Lock()
		ar := p.rep.Addresses[i]
		p.mu.Unlock()
		at := p.clk.Now()
		res, err := p.resolve(ctx, ar.Side, ar.Address)
		if ctx.Err() != nil {
			return // cut short by Stop: not a sample
		}
		p.record(i, at, res, err)
	}
}

func (p *Probe) record(i int, at time.Time, res Resolution, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ar := &p.rep.Addresses[i]
	st := p.state[key{ar.Address, ar.Side}]
	ar.Samples++
	if err != nil {
		ar.Errors++
		ar.LastError = err.Error()
		return
	}
	ar.Last = res
	switch {
	case !res.Delivers():
		ar.Undelivered++
		if !st.open {
			st.open, st.start = true, at
		}
		ar.noteOutage(st.start, at)
	case st.open:
		st.open = false
		ar.noteOutage(st.start, at)
	}
}

// noteOutage records a window from start to end if it is the longest.
func (ar *AddressReport) noteOutage(start, end time.Time) {
	if d := end.Sub(start); d > ar.LongestOutage || ar.OutageStart.IsZero() {
		ar.LongestOutage, ar.OutageStart = d, start
	}
}

// Stop ends the probe, waits for a round in progress to be cut short, and
// returns the report, windows still open counted to now.
func (p *Probe) Stop() Report {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	p.rep.Stopped = now
	for i := range p.rep.Addresses {
		ar := &p.rep.Addresses[i]
		if st := p.state[key{ar.Address, ar.Side}]; st.open {
			ar.noteOutage(st.start, now)
		}
	}
	return p.copyReport()
}

// Report returns what the probe saw so far (windows still open counted to
// the last sample).
func (p *Probe) Report() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.copyReport()
}

func (p *Probe) copyReport() Report {
	r := p.rep
	r.Addresses = append([]AddressReport(nil), p.rep.Addresses...)
	return r
}

// Find returns the report of addr on side.
func (r Report) Find(addr string, side Side) (AddressReport, bool) {
	for _, a := range r.Addresses {
		if a.Address == addr && a.Side == side {
			return a, true
		}
	}
	return AddressReport{}, false
}
