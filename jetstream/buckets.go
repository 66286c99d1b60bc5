package jetstream

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// bucket is a KV bucket with the stream that holds it, which listNames
// scans.
type bucket struct {
	jetstream.KeyValue
	stream jetstream.Stream
}

// buckets are the store's KV buckets, each <Name>_<what>.
type buckets struct {
	ids         bucket // event id → "position version", and the indexed watermark
	streams     bucket // stream name → "" (the names; versions are the log's)
	checkpoints bucket // consumer name → position
	leases      bucket // consumer name → lease JSON
	subs        bucket // subscription name → JSON
	schemas     bucket // type.version → schema JSON
	sinks       bucket // control.<sink> and status.<sink> → JSON
	keys        bucket // key name → record JSON
}

func (b *buckets) open(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	for _, k := range []struct {
		kv   *bucket
		what string
	}{
		{&b.ids, "ids"}, {&b.streams, "streams"}, {&b.checkpoints, "checkpoints"}, {&b.leases, "leases"},
		{&b.subs, "subscriptions"}, {&b.schemas, "schemas"}, {&b.sinks, "sinks"}, {&b.keys, "keys"},
	} {
		kv, err := placing(ctx, func() (jetstream.KeyValue, error) {
			return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:   name + "_" + k.what,
				Storage:  jetstream.FileStorage,
				Replicas: replicas,
			})
		})
		if err == nil {
			*k.kv, err = leaderReads(ctx, js, kv)
		}
		if err != nil {
			return fmt.Errorf("bucket %s_%s: %w", name, k.what, err)
		}
	}
	return nil
}

// leaderReads turns off direct gets on a bucket's stream, which nats.go
// turns on and which any replica answers, a lagging one too: a read after a
// write must see it. It returns the bucket bound again, to read from the
// leader.
func leaderReads(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) (bucket, error) {
	st, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		return bucket{}, err
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowDirect {
		cfg.AllowDirect = false
		if st, err = js.UpdateStream(ctx, cfg); err != nil {
			return bucket{}, err
		}
	}
	kv, err = js.KeyValue(ctx, kv.Bucket())
	return bucket{kv, st}, err
}
