package postgres

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/storetest"
)

func BenchmarkZZPlan(b *testing.B) {
	events := make([]sluice.Event, 500)
	for i := range events {
		events[i] = storetest.BenchEvent(i)
	}
	reqs := []sluice.AppendRequest{{Events: events}}
	sluice.DefaultLimits.Prepare(reqs)
	b.ReportAllocs()
	for b.Loop() {
		_, streams := keys(reqs, false)
		p := &plan{
			stored:   make(map[string]sluice.Appended),
			versions: make(map[string]uint64, len(streams)),
			streams:  make(map[string]sluice.StreamInfo, len(streams)),
		}
		p.recordedAt = time.Now()
		p.add(reqs)
		for i := range p.events {
			eventRow(&p.events[i])
		}
	}
}
