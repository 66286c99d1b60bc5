package jetstream

import (
	"context"

	"github.com/sluicehq/sluice"
)

// maxKnownStreams bounds the streams whose ends known remembers; past it,
// it forgets them all and reads them again from the server as they come.
const maxKnownStreams = 100_000

// last is where a stream ends: its version and the position of its last
// event.
type last struct {
	version  uint64
	position sluice.Position
}

// known is what this process knows of the log from its own commits: the
// head after its last commit and where the streams it wrote end. A plan
// made on it needs no round trip to the server, and stays safe when
// another process wrote meanwhile: every batch expects the head it was
// planned on, so such a batch fails, and known is forgotten and read again
// (D166). Used under Store.commit.
type known struct {
	head  sluice.Position
	lasts map[string]last // nil: nothing is known
}

// forget drops everything known: the next plan reads the server.
func (k *known) forget() { k.lasts = nil }

// state returns the head to plan on and where each of streams ends. The
// head is the server's when nothing is known. A stream's end comes from
// the server when it is not known or when fresh says so (the streams of
// stream requests: their expected versions must be checked on the
// server's state, not on this process's, or another process's write would
// make a false conflict).
func (k *known) state(ctx context.Context, s *Store, streams []string, fresh map[string]bool) (sluice.Position, map[string]last, error) {
	if k.lasts != nil && s.notifier.Head() > k.head {
		k.forget() // another process committed since, and the head follower saw it
	}
	if k.lasts == nil {
		info, err := s.log.Info(ctx)
		if err != nil {
			return 0, nil, err
		}
		k.head, k.lasts = sluice.Position(info.State.LastSeq), map[string]last{}
		s.notifier.Publish(k.head)
	}
	lasts := make(map[string]last, len(streams))
	var read []string
	for _, st := range streams {
		if l, ok := k.lasts[st]; ok && !fresh[st] {
			lasts[st] = l
			continue
		}
		read = append(read, st)
	}
	got, err := s.lastOf(ctx, read)
	if err != nil {
		return 0, nil, err
	}
	for st, l := range got {
		lasts[st] = l
	}
	k.remember(got)
	return k.head, lasts, nil
}

// advance records a published plan: the head moves past its events, and
// its streams end where the plan leaves them. The batch is not answered
// yet; if it fails, forget undoes this. Planning comes first (state), so
// something is known.
func (k *known) advance(p *sluice.CommitPlan) {
	k.head = p.Head
	ends := make(map[string]last, len(p.Streams))
	for i := range p.Events {
		e := &p.Events[i]
		ends[e.Stream] = last{version: e.Version, position: e.Position}
	}
	k.remember(ends)
}

func (k *known) remember(lasts map[string]last) {
	if len(k.lasts)+len(lasts) > maxKnownStreams {
		k.lasts = make(map[string]last, len(lasts))
	}
	for st, l := range lasts {
		k.lasts[st] = l
	}
}
