package nats

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sinktest"
)

func TestConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want []string // every line of the error, in order
	}{
		{"Defaults", Config{}, nil},
		{"Cluster", Config{URL: "nats://a:4222, tls://b:4222,c:4222", Subject: "events.{type}.{category}-{stream}"}, nil},
		{"Everything", Config{User: "u", Password: "p", TLS: TLS{CertFile: "c", KeyFile: "k"}, MaxPending: 1, Timeout: time.Second}, nil},
		{"EveryProblemAtOnce", Config{URL: "http://a:80,,nats://", Subject: "{stream}", Password: "p", Token: "t", CredsFile: "f",
			TLS: TLS{CertFile: "c"}, MaxPending: -1, Timeout: -time.Second}, []string{
			`url: "http://a:80": want a nats://, tls://, ws:// or wss:// address`,
			"url: an empty address",
			`url: "nats://" has no host`,
			`subject: "{stream}": the first token must be fixed text (as in sluice.{stream}), so that no event names a system subject`,
			"password: set without a user",
			"user: user, token and creds_file are different ways to authenticate: set one",
			"tls: cert_file and key_file go together",
			"max_pending: must not be negative",
			"timeout: must not be negative",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { sinktest.CheckProblems(t, tt.cfg.Validate(), tt.want) })
	}
}

func TestConfig_Subject(t *testing.T) {
	for _, tt := range []struct{ subject, want string }{
		{"sluice", ""},
		{"sluice.{stream}", ""},
		{"a.b{type}.c", ""},
		{"sluice{stream}", "the first token must be fixed text"},
		{"{type}.x", "the first token must be fixed text"},
		{"sluice.{id}", "{id}: want {stream}, {type} or {category}"},
		{"sluice.{stream", "a { without its }"},
		{"sluice.stream}", "a } without its {"},
		{"sluice..{stream}", "has an empty token"},
		{"sluice.{stream}.", "has an empty token"},
		{"sluice.*.{stream}", "has a wildcard"},
		{"sluice.>", "has a wildcard"},
		{"sluice events.{stream}", "has a space"},
		{"", "empty"},
	} {
		_, err := parseSubject(tt.subject)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.subject, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want %q", tt.subject, err, tt.want)
		}
	}
}

func TestConfig_Limits(t *testing.T) {
	l := (&Config{}).Limits()
	if l.Default.MaxEvents != 1000 || l.MaxRecordBytes != 0 || l.MaxEvents != 0 {
		t.Fatalf("limits %+v", l)
	}
}
