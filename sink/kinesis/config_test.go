package kinesis

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/testutil"
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
		{"Stream", Config{Stream: "events"}, nil},
		{"StreamARN", Config{StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/events"}, nil},
		{"Everything", Config{
			Stream: "events", StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
			AWS:          awsconf.Config{Region: "eu-west-1", Endpoint: "https://kinesis.example.com", AccessKeyID: "a", SecretAccessKey: "b"},
			PartitionKey: "data.user.id", Timeout: time.Second,
		}, nil},
		{"NoStream", Config{}, []string{"stream: required (or stream_arn)"}},
		{"BadValues", Config{
			Stream: "my stream", AWS: awsconf.Config{Region: "Europe", Endpoint: "127.0.0.1:4567", AccessKeyID: "a", Profile: "prod"},
			PartitionKey: "time", Timeout: -time.Second,
		}, []string{
			`stream: "my stream" is not a stream name (1-128 of a-z, A-Z, 0-9, _, ., -)`,
			`region: "Europe" is not a region name (eu-west-1)`,
			`endpoint: "127.0.0.1:4567" is not an http:// or https:// URL`,
			"access_key_id, secret_access_key: set both or neither",
			"profile: not with access_key_id: credentials come from one or the other",
			`partition_key: field "time": want id, type, stream, category, source, data.<path> or metadata.<path>`,
			"timeout: -1s is negative",
		}},
		{"StreamTooLong", Config{Stream: strings.Repeat("s", 129)}, []string{
			`stream: "` + strings.Repeat("s", 129) + `" is not a stream name (1-128 of a-z, A-Z, 0-9, _, ., -)`,
		}},
		{"NotAStreamARN", Config{StreamARN: "arn:aws:sqs:eu-west-1:123456789012:events"}, []string{
			`stream_arn: "arn:aws:sqs:eu-west-1:123456789012:events" is not a Kinesis stream's ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)`,
		}},
		{"NotAnARN", Config{StreamARN: "events"}, []string{`stream_arn: "events": arn: invalid prefix`}},
		{"ARNOfAnotherStream", Config{Stream: "a", StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/b"}, []string{
			`stream_arn: names stream "b", and stream says "a"`,
		}},
		{"ARNInAnotherRegion", Config{StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/b", AWS: awsconf.Config{Region: "us-east-1"}}, []string{
			"stream_arn: the stream is in eu-west-1, and region says us-east-1",
		}},
		{"SecretWithoutKey", Config{Stream: "s", AWS: awsconf.Config{SecretAccessKey: "b"}}, []string{"access_key_id, secret_access_key: set both or neither"}},
	} {
		t.Run(tt.name, func(t *testing.T) { sinktest.CheckProblems(t, tt.c.Validate(), tt.want) })
	}
}

func TestConfig_Limits(t *testing.T) {
	t.Parallel()
	want := sink.Limits{
		Default:   sink.Batch{MaxEvents: 500, MaxBytes: 5 << 20, Linger: 0},
		MaxEvents: 500, MaxBytes: 5 << 20, MaxRecordBytes: 1 << 20,
	}
	if got := (&Config{Stream: "s"}).Limits(); got != want {
		t.Errorf("Limits: %+v, want %+v", got, want)
	}
}

// The tests of Open change the environment, so none runs in parallel.
func TestConfig_Open(t *testing.T) {
	region := func(t *testing.T, c Config) string {
		t.Helper()
		return open(t, &c).client.Options().Region
	}

	t.Run("Region", func(t *testing.T) {
		testutil.NoAWSEnvironment(t)
		if got := region(t, Config{Stream: "s"}); got != DefaultRegion {
			t.Errorf("no region anywhere: %s, want %s", got, DefaultRegion)
		}
		t.Setenv("AWS_REGION", "ap-south-1")
		if got := region(t, Config{Stream: "s"}); got != "ap-south-1" {
			t.Errorf("AWS_REGION=ap-south-1: %s", got)
		}
		if got := region(t, Config{StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/b"}); got != "eu-west-1" {
			t.Errorf("a stream ARN in eu-west-1: %s", got)
		}
		if got := region(t, Config{Stream: "s", AWS: awsconf.Config{Region: "eu-central-1"}}); got != "eu-central-1" {
			t.Errorf("region: eu-central-1: %s", got)
		}
	})

	t.Run("Profile", func(t *testing.T) {
		testutil.NoAWSEnvironment(t)
		profiles := "[profile analytics]\nregion = sa-east-1\naws_access_key_id = a\naws_secret_access_key = b\n"
		if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(profiles), 0o600); err != nil {
			t.Fatal(err)
		}
		s := open(t, &Config{Stream: "s", AWS: awsconf.Config{Profile: "analytics"}})
		if got := s.client.Options().Region; got != "sa-east-1" {
			t.Errorf("the profile's region: %s", got)
		}
		creds, err := s.client.Options().Credentials.Retrieve(context.Background())
		if err != nil || creds.AccessKeyID != "a" {
			t.Errorf("the profile's credentials: %+v, %v", creds, err)
		}
		_, err = (&Config{Stream: "s", AWS: awsconf.Config{Profile: "missing"}}).Open(context.Background(), sink.Env{Name: "x"})
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("a missing profile: %v", err)
		}
	})

	t.Run("NoSDKRetries", func(t *testing.T) {
		testutil.NoAWSEnvironment(t)
		t.Setenv("AWS_MAX_ATTEMPTS", "5")
		s := open(t, &Config{Stream: "s"})
		if n := s.client.Options().Retryer.MaxAttempts(); n != 1 {
			t.Errorf("the SDK makes %d attempts, want 1: the runner retries", n)
		}
		if s.timeout != DefaultTimeout {
			t.Errorf("timeout %s, want %s", s.timeout, DefaultTimeout)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		_, err := (&Config{}).Open(context.Background(), sink.Env{Name: "x"})
		if err == nil || !strings.Contains(err.Error(), "stream: required") {
			t.Errorf("open an invalid configuration: %v", err)
		}
	})
}
