package sluice_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/storetest"
)

// benchEvents are n page views of about 400 bytes over 50 streams, without
// ids, as most clients send them.
func benchEvents(n int) []sluice.Event {
	evs := make([]sluice.Event, n)
	for i := range evs {
		evs[i] = storetest.BenchEvent(i)
		evs[i].ID = ""
	}
	return evs
}

// BenchmarkPrepare500 checks a request of 500 events and gives them ids:
// as the store does (Commit, the JSON checked) and as the edge does (Edge,
// the decoder has checked it).
func BenchmarkPrepare500(b *testing.B) {
	for _, c := range []struct {
		name   string
		limits sluice.Limits
	}{{"Commit", sluice.DefaultLimits}, {"Edge", sluice.Limits{JSONChecked: true}}} {
		b.Run(c.name, func(b *testing.B) {
			events := benchEvents(500)
			fresh := make([]sluice.Event, len(events))
			b.ReportAllocs()
			for b.Loop() {
				copy(fresh, events)
				if err := c.limits.Prepare([]sluice.AppendRequest{{Events: fresh}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitPlan500 plans a commit of one request of 500 new events.
func BenchmarkCommitPlan500(b *testing.B) {
	events := benchEvents(500)
	if err := sluice.DefaultLimits.Prepare([]sluice.AppendRequest{{Events: events}}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p := sluice.NewCommitPlan(0, now)
		p.Add([]sluice.AppendRequest{{Events: events}})
		if len(p.Events) != 500 {
			b.Fatalf("%d events planned", len(p.Events))
		}
	}
}
