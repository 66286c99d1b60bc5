package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		c    Config
		want []string // every problem, in order; none: valid
	}{
		{"Minimal", Config{Brokers: []string{"kafka:9092"}, Topic: "events"}, nil},
		{"Everything", Config{
			Brokers: []string{"a:9092", "[::1]:9093"}, Topic: "sluice.events-v1_x", Key: "metadata.tenant", ClientID: "me",
			Compression: "zstd", MaxMessageBytes: 4 << 20, RecordRetries: 3, Timeout: time.Minute,
			TLS:  TLS{Enabled: true, TLS: sink.TLS{CAFile: "ca", CertFile: "c", KeyFile: "k"}, ServerName: "kafka"},
			SASL: SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"},
		}, nil},
		{"Nothing", Config{}, []string{"brokers: required: at least one host:port", "topic: required"}},
		{"BadValues", Config{
			Brokers: []string{"kafka", ":9092", "kafka:0", "kafka:x"}, Topic: "my topic", Key: "time",
			Compression: "brotli", MaxMessageBytes: 100, RecordRetries: -1, Timeout: 100 * time.Millisecond,
			TLS: TLS{TLS: sink.TLS{CertFile: "c"}}, SASL: SASL{Mechanism: "GSSAPI", Username: "u"},
		}, []string{
			`brokers: "kafka" is not host:port`,
			`brokers: ":9092" has no host`,
			`brokers: "kafka:0": the port is not 1-65535`,
			`brokers: "kafka:x": the port is not 1-65535`,
			`topic: "my topic" is not a topic name (1-249 of a-z, A-Z, 0-9, ., _, -; not . or ..)`,
			`key: field "time": want id, type, stream, category, source, data.<path> or metadata.<path>`,
			`compression: "brotli": want none, gzip, snappy, lz4 or zstd`,
			"max_message_bytes: 100: want 512 to 1073741824",
			"record_retries: must not be negative",
			"timeout: 100ms: want at least 1s",
			"tls: cert_file and key_file go together",
			`sasl.mechanism: "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`,
			"sasl: username and password are required with a mechanism",
		}},
		{"DotTopic", Config{Brokers: []string{"k:1"}, Topic: ".."}, []string{
			`topic: ".." is not a topic name (1-249 of a-z, A-Z, 0-9, ., _, -; not . or ..)`,
		}},
		{"LongTopic", Config{Brokers: []string{"k:1"}, Topic: strings.Repeat("t", 250)}, []string{
			`topic: "` + strings.Repeat("t", 250) + `" is not a topic name (1-249 of a-z, A-Z, 0-9, ., _, -; not . or ..)`,
		}},
		{"PasswordWithoutMechanism", Config{Brokers: []string{"k:1"}, Topic: "t", SASL: SASL{Username: "u", Password: "p"}}, []string{
			"sasl.mechanism: required with a username or password",
		}},
		{"NegativeTimeout", Config{Brokers: []string{"k:1"}, Topic: "t", Timeout: -time.Second}, []string{"timeout: -1s: want at least 1s"}},
	} {
		t.Run(tt.name, func(t *testing.T) { sinktest.CheckProblems(t, tt.c.Validate(), tt.want) })
	}
}

func TestConfig_Limits(t *testing.T) {
	t.Parallel()
	want := sink.Limits{Default: sink.Batch{MaxEvents: 1000, MaxBytes: 8 << 20}, MaxRecordBytes: 1_000_012}
	if got := (&Config{}).Limits(); got != want {
		t.Errorf("Limits: %+v, want %+v", got, want)
	}
	if got := (&Config{MaxMessageBytes: 4096}).Limits().MaxRecordBytes; got != 4096 {
		t.Errorf("max_message_bytes: 4096: MaxRecordBytes %d", got)
	}
}

// TestConfig_YAML: the fields decode from a sinks: entry as the docs
// spell them, the TLS file fields inline under tls.
func TestConfig_YAML(t *testing.T) {
	t.Parallel()
	doc := `
brokers: [a:9092, b:9092]
topic: events
key: data.user.id
client_id: me
compression: lz4
max_message_bytes: 2000000
record_retries: 2
timeout: 30s
tls: {enabled: true, ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: kafka, insecure_skip_verify: true}
sasl: {mechanism: PLAIN, username: u, password: p}
`
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Brokers: []string{"a:9092", "b:9092"}, Topic: "events", Key: "data.user.id", ClientID: "me",
		Compression: "lz4", MaxMessageBytes: 2_000_000, RecordRetries: 2, Timeout: 30 * time.Second,
		TLS:  TLS{Enabled: true, TLS: sink.TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", InsecureSkipVerify: true}, ServerName: "kafka"},
		SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
}

// TestHarness_Fields: the harness's fields for the real binary are the
// configuration it tests in-process.
func TestHarness_Fields(t *testing.T) {
	t.Parallel()
	sinktest.CheckFields(t, newHarness(t), "kafka")
}

func TestConfig_Open(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := (&Config{}).Open(ctx, sink.Env{Name: "x"}); err == nil || !strings.Contains(err.Error(), "brokers: required") {
		t.Errorf("open an invalid configuration: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	c := &Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", TLS: TLS{TLS: sink.TLS{CAFile: missing}}}
	if _, err := c.Open(ctx, sink.Env{Name: "x"}); err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("open with a missing CA file: %v", err)
	}
	var logged bytes.Buffer
	plainText := &Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}}
	s, err := plainText.Open(ctx, sink.Env{Name: "x", Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(logged.String(), "SASL PLAIN without TLS") {
		t.Errorf("no warning of a password in the clear; logged %q", logged.String())
	}
	// Nothing listens on port 1: Open does not connect, Deliver fails.
	down := open(t, &Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Timeout: time.Second})
	wholeBatch(t, down.Deliver(ctx, newRecords(1, "a")))
}
