package metrics

import (
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud/exo"
	"github.com/hybridsync/hybridsync/cloud/graph"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// The methods fit the hooks they are made for; this fails to compile when
// a hook's signature changes.
var (
	_ = adldap.Config{Observe: (*Metrics)(nil).ObserveLDAP}
	_ = graph.Config{Observe: (*Metrics)(nil).ObserveGraph}
	_ = exo.Config{Observe: (*Metrics)(nil).ObserveExchange}
	_ = retry.Policy{OnRetry: (*Metrics)(nil).RetryObserver(SubsystemAD)}
)
