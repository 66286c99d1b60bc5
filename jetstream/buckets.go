package jetstream

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// buckets are the store's KV buckets, each <Name>_<what>.
type buckets struct {
	ids         jetstream.KeyValue // event id → "position version", and the indexed watermark
	streams     jetstream.KeyValue // stream name → "" (the names; versions are the log's)
	checkpoints jetstream.KeyValue // consumer name → position
	leases      jetstream.KeyValue // consumer name → lease JSON
	subs        jetstream.KeyValue // subscription name → JSON
	schemas     jetstream.KeyValue // type.version → schema JSON
	sinks       jetstream.KeyValue // control.<sink> and status.<sink> → JSON
	keys        jetstream.KeyValue // key name → record JSON
}

func (b *buckets) open(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	for _, k := range []struct {
		kv   *jetstream.KeyValue
		what string
	}{
		{&b.ids, "ids"}, {&b.streams, "streams"}, {&b.checkpoints, "checkpoints"}, {&b.leases, "leases"},
		{&b.subs, "subscriptions"}, {&b.schemas, "schemas"}, {&b.sinks, "sinks"}, {&b.keys, "keys"},
	} {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   name + "_" + k.what,
			Storage:  jetstream.FileStorage,
			Replicas: replicas,
		})
		if err == nil {
			kv, err = leaderReads(ctx, js, kv)
		}
		if err != nil {
			return fmt.Errorf("bucket %s_%s: %w", name, k.what, err)
		}
		*k.kv = kv
	}
	return nil
}

// leaderReads turns off direct gets on a bucket's stream, which nats.go
// turns on and which any replica answers, a lagging one too: a read after a
// write must see it. It returns the bucket bound again, to read from the
// leader.
func leaderReads(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) (jetstream.KeyValue, error) {
	st, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		return nil, err
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowDirect {
		cfg.AllowDirect = false
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return js.KeyValue(ctx, kv.Bucket())
}
