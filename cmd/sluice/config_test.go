package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/tracing"
	"github.com/sluicehq/sluice/sink/kinesis"
)

// writeConfig writes a configuration file for the test and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envOf returns a LookupEnv over env.
func envOf(env map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := env[key]
		return v, ok
	}
}

// expectProblems fails the test unless err's message holds each of want.
func expectProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

const goodConfig = `
listen: 0.0.0.0:8080
data: /var/lib/sluice
shutdown_timeout: 5s
writer:
  max_queue_events: 5000
  commit_timeout: 2s
http:
  keys:
    - name: backend
      secret: sk_backend_0123456789abcdef
      role: admin
    - name: browser
      secret: sk_browser_0123456789abcdef
      role: write
      origins: ["https://example.com"]
      types: [page.viewed]
  limits:
    max_body_bytes: 2097152
    rate_per_key: 50
  open_metrics: true
  retry_after: 2s
`

func TestLoadConfig(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig("", envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("got %+v, want the defaults %+v", cfg, DefaultConfig())
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("the defaults are invalid: %v", err)
		}
	})

	t.Run("File", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig(writeConfig(t, goodConfig), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := Config{
			Listen:          "0.0.0.0:8080",
			Data:            "/var/lib/sluice",
			ShutdownTimeout: 5 * time.Second,
			Writer:          WriterConfig{MaxQueueEvents: 5000, CommitTimeout: 2 * time.Second},
			HTTP: httpapi.Config{
				Keys: []httpapi.Key{
					{Name: "backend", Secret: "sk_backend_0123456789abcdef", Role: httpapi.RoleAdmin},
					{Name: "browser", Secret: "sk_browser_0123456789abcdef", Role: httpapi.RoleWrite,
						Origins: []string{"https://example.com"}, Types: []string{"page.viewed"}},
				},
				Limits:      httpapi.Limits{MaxBodyBytes: 2 << 20, RatePerKey: 50},
				OpenMetrics: true,
				RetryAfter:  2 * time.Second,
				AccessLog:   httpapi.AccessLog{Sample: 1}, // the default, untouched by the file
			},
			Tracing: tracing.Config{SampleRatio: 1}, // the default
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("valid file reported: %v", err)
		}
	})

	t.Run("EmptyFile", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig(writeConfig(t, "# nothing\n"), envOf(nil))
		if err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
			t.Errorf("got %+v, %v; want the defaults", cfg, err)
		}
	})

	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), envOf(nil))
		expectProblems(t, err, "nope.yaml", "no such file")
	})

	t.Run("UnknownField", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, "listen: 127.0.0.1:7070\nlisten_addr: 0.0.0.0:80\nhttp:\n  limits:\n    max_body: 10\n")
		_, err := LoadConfig(path, envOf(nil))
		expectProblems(t, err, `line 2: unknown field "listen_addr"`, `line 5: unknown field "max_body"`)
	})

	t.Run("InlineSinkFields", func(t *testing.T) {
		t.Parallel()
		// The AWS fields of kinesis and s3 are an inlined struct: they are
		// the sink's own, and a misspelt one is named with its line.
		good := "sinks:\n  - name: k\n    type: kinesis\n    stream: s\n    region: eu-west-1\n    access_key_id: a\n    secret_access_key: b\n"
		cfg, err := LoadConfig(writeConfig(t, good), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := &kinesis.Config{Stream: "s", AWS: awsconf.Config{Region: "eu-west-1", AccessKeyID: "a", SecretAccessKey: "b"}}
		if got := cfg.Sinks[0].Destination; !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %+v, want %+v", got, want)
		}
		bad := "sinks:\n  - name: a\n    type: s3\n    bucket: b\n    regoin: eu-west-1\n"
		_, err = LoadConfig(writeConfig(t, bad), envOf(nil))
		expectProblems(t, err, `line 5: unknown field "regoin" in a sink of type s3`)
	})

	t.Run("EveryProblemOfTheSinks", func(t *testing.T) {
		t.Parallel()
		// A sink that cannot be decoded neither ends the decoding (the
		// entries and fields after it are still checked) nor is reported
		// again as missing its type.
		bad := "sinks:\n  - name: a\n    type: file\n    path: /tmp/x\n    bogus: 1\n  - name: b\n    type: nope\n  - name: c\n    type: webhook\nhttp:\n  whatever: 3\n"
		cfg, err := LoadConfig(writeConfig(t, bad), envOf(nil))
		expectProblems(t, err, `line 5: unknown field "bogus" in a sink of type file`, `line 7: unknown sink type "nope"`, `line 11: unknown field "whatever"`)
		err = cfg.Validate()
		expectProblems(t, err, "sinks[2] (c).url: required")
		if strings.Contains(err.Error(), "type: required") {
			t.Errorf("a sink that could not be decoded is reported as having no type: %v", err)
		}
	})

	t.Run("WrongType", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, "writer:\n  max_queue_events: lots\nshutdown_timeout: 30\nhttp:\n  open_metrics: maybe\n")
		_, err := LoadConfig(path, envOf(nil))
		expectProblems(t, err, "line 2: cannot unmarshal !!str `lots` into int", "line 3:", "line 5:")
	})

	t.Run("Syntax", func(t *testing.T) {
		t.Parallel()
		_, err := LoadConfig(writeConfig(t, "listen: [unclosed\n"), envOf(nil))
		expectProblems(t, err, "sluice.yaml: yaml: line")
	})

	t.Run("EnvOverrides", func(t *testing.T) {
		t.Parallel()
		cfg, err := LoadConfig(writeConfig(t, goodConfig), envOf(map[string]string{
			"SLUICE_LISTEN":                     "127.0.0.1:9999",
			"SLUICE_SHUTDOWN_TIMEOUT":           "1m",
			"SLUICE_WRITER_MAX_QUEUE_BYTES":     "1048576",
			"SLUICE_HTTP_OPEN_METRICS":          "false",
			"SLUICE_HTTP_LIMITS_MAX_BODY_BYTES": "4096",
			"SLUICE_HTTP_LIMITS_RATE_PER_KEY":   "2.5",
			"SLUICE_STORE":                      "", // empty: as if unset
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listen != "127.0.0.1:9999" || cfg.ShutdownTimeout != time.Minute || cfg.Writer.MaxQueueBytes != 1<<20 ||
			cfg.HTTP.OpenMetrics || cfg.HTTP.Limits.MaxBodyBytes != 4096 || cfg.HTTP.Limits.RatePerKey != 2.5 {
			t.Errorf("environment not applied: %+v", cfg)
		}
		if cfg.Data != "/var/lib/sluice" || cfg.Writer.MaxQueueEvents != 5000 || len(cfg.HTTP.Keys) != 2 {
			t.Errorf("file values lost: %+v", cfg)
		}
	})

	t.Run("MalformedEnv", func(t *testing.T) {
		t.Parallel()
		_, err := LoadConfig("", envOf(map[string]string{
			"SLUICE_WRITER_MAX_QUEUE_EVENTS":    "lots",
			"SLUICE_SHUTDOWN_TIMEOUT":           "30",
			"SLUICE_HTTP_OPEN_METRICS":          "yes please",
			"SLUICE_HTTP_LIMITS_MAX_BODY_BYTES": "99999999999999999999",
		}))
		expectProblems(t, err,
			`SLUICE_WRITER_MAX_QUEUE_EVENTS: "lots" is not an integer`,
			`SLUICE_SHUTDOWN_TIMEOUT: "30" is not a duration`,
			`SLUICE_HTTP_OPEN_METRICS: "yes please" is not true or false`,
			`SLUICE_HTTP_LIMITS_MAX_BODY_BYTES: "99999999999999999999" is not an integer of 64 bits`,
		)
	})

	t.Run("EnvKeys", func(t *testing.T) {
		t.Parallel()
		path := writeConfig(t, "http:\n  keys:\n    - {name: admin, secret: sk_file_admin_0123456789, role: admin}\n    - {name: reader, secret: sk_file_reader_0123456789, role: read}\n")
		cfg, err := LoadConfig(path, envOf(map[string]string{
			"SLUICE_ADMIN_KEY":              "sk_env_admin_0123456789",
			"SLUICE_WRITE_KEY":              "sk_env_write_0123456789",
			"SLUICE_HTTP_WRITE_KEY_ORIGINS": "https://a.example, https://b.example",
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := []httpapi.Key{
			{Name: "admin", Secret: "sk_env_admin_0123456789", Role: httpapi.RoleAdmin},
			{Name: "reader", Secret: "sk_file_reader_0123456789", Role: httpapi.RoleRead},
			{Name: "write", Secret: "sk_env_write_0123456789", Role: httpapi.RoleWrite, Origins: []string{"https://a.example", "https://b.example"}},
		}
		if !reflect.DeepEqual(cfg.HTTP.Keys, want) {
			t.Errorf("keys %+v, want %+v", cfg.HTTP.Keys, want)
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()

	t.Run("NoKeys", func(t *testing.T) {
		t.Parallel()
		// serve generates keys when there are none.
		if err := DefaultConfig().Validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.Store = "postgresql://sluice@db.internal/sluice?sslmode=require"
		cfg.PostgresSchema = "events"
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EveryProblemAtOnce", func(t *testing.T) {
		t.Parallel()
		cfg := Config{
			Listen:          "7070",
			Store:           "mysql://localhost/sluice",
			ShutdownTimeout: -time.Second,
			Writer:          WriterConfig{MaxQueueEvents: -1, CommitTimeout: -time.Second},
			HTTP: httpapi.Config{
				Keys:   []httpapi.Key{{Name: "k", Secret: "short", Role: "owner"}},
				Limits: httpapi.Limits{MaxBodyBytes: -1},
			},
		}
		expectProblems(t, cfg.Validate(),
			`listen: "7070" is not host:port`,
			"store: must be a postgres:// or postgresql:// URL",
			"shutdown_timeout: must be positive",
			"writer.max_queue_events: must not be negative",
			"writer.commit_timeout: must not be negative",
			"http.keys[0].secret: at least 16 characters",
			`http.keys[0].role: "owner" is not write, read or admin`,
			"http.limits.max_body_bytes: must not be negative",
		)
	})

	t.Run("PostgresProblems", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.Store = "postgres://host:notaport/db"
		cfg.PostgresSchema = strings.Repeat("s", 64)
		expectProblems(t, cfg.Validate(), "store: ", "postgres_schema: is 64 bytes")
	})

	t.Run("JetStream", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.Store = "nats://a:4222,nats://b:4222,tls://c:4222"
		cfg.JetStream = JetStreamConfig{Name: "events", Replicas: 3, DuplicateWindow: time.Hour, PublishWindow: 8}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("JetStreamProblems", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.Store = "nats://a:4222,b"
		cfg.JetStream = JetStreamConfig{Name: "no spaces", Replicas: 7, Credentials: "/nonexistent/x.creds", PublishWindow: 51}
		expectProblems(t, cfg.Validate(),
			`store: "b" is not a nats://host:port`,
			"jetstream.name: must be 1 to 32",
			"jetstream.replicas: is 7, must be 1 to 5",
			"jetstream.publish_window: is 51, must be 1 to 50",
			"jetstream.credentials: stat /nonexistent/x.creds",
		)
	})
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()

	t.Run("Good", func(t *testing.T) {
		t.Parallel()
		tm := newTestMain(nil)
		err := tm.Run(context.Background(), []string{"config", "check", writeConfig(t, goodConfig)})
		if err != nil {
			t.Fatalf("%v; stdout:\n%s", err, tm.stdout)
		}
		if got := tm.stdout.String(); got != "ok\n" {
			t.Errorf("stdout %q, want \"ok\\n\"", got)
		}
	})

	t.Run("Bad", func(t *testing.T) {
		t.Parallel()
		tm := newTestMain(map[string]string{"SLUICE_WRITER_MAX_QUEUE_EVENTS": "many"})
		path := writeConfig(t, "listen: nowhere\nlistne: 127.0.0.1:1\nhttp:\n  keys:\n    - {name: a, secret: tooshort, role: write}\n  retry_after: -1s\n")
		err := tm.Run(context.Background(), []string{"config", "check", path})
		if code := exitCode(err); code != 1 {
			t.Fatalf("exit code %d (%v), want 1", code, err)
		}
		out := tm.stdout.String()
		for _, want := range []string{
			`line 2: unknown field "listne"`,
			`SLUICE_WRITER_MAX_QUEUE_EVENTS: "many" is not an integer`,
			`listen: "nowhere" is not host:port`,
			"http.keys[0].secret: at least 16 characters",
			"http.retry_after: must not be negative",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout does not report %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "\n"); n != 5 {
			t.Errorf("%d lines, want 5 problems:\n%s", n, out)
		}
	})
}

func TestConfigCheck_Environment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		code int
		want []string // lines of stdout
	}{
		{"Defaults", nil, 0, []string{"ok"}},
		{"Good", map[string]string{"SLUICE_LISTEN": "127.0.0.1:7071", "SLUICE_ADMIN_KEY": "sk_admin_0123456789abcdef"}, 0, []string{"ok"}},
		{"Bad", map[string]string{"SLUICE_LISTEN": "nowhere", "SLUICE_WRITER_MAX_QUEUE_EVENTS": "many", "SLUICE_ADMIN_KEY": "short", "SLUICE_HTTP_ACCESS_LOG_SAMPLE": "2"}, 1, []string{
			`SLUICE_WRITER_MAX_QUEUE_EVENTS: "many" is not an integer`,
			`listen: "nowhere" is not host:port`,
			"http.keys[0].secret: at least 16 characters",
			"http.access_log.sample: 2 is not between 0 and 1",
		}},
		{"SLUICE_CONFIG", map[string]string{"SLUICE_CONFIG": writeConfig(t, "listne: 127.0.0.1:1\n")}, 1, []string{`line 1: unknown field "listne"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm := newTestMain(tc.env)
			err := tm.Run(context.Background(), []string{"config", "check"})
			if code := exitCode(err); code != tc.code {
				t.Fatalf("exit code %d (%v), want %d; stdout:\n%s", code, err, tc.code, tm.stdout)
			}
			out := tm.stdout.String()
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("stdout does not report %q:\n%s", want, out)
				}
			}
			if n := strings.Count(out, "\n"); n != len(tc.want) {
				t.Errorf("%d lines, want %d:\n%s", n, len(tc.want), out)
			}
		})
	}
}

func TestServeConfig_Precedence(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "listen: 127.0.0.1:1001\ndata: /from/file\nstore: postgres://file/db\n")
	env := map[string]string{
		"SLUICE_CONFIG": file,
		"SLUICE_LISTEN": "127.0.0.1:1002",
		"SLUICE_DATA":   "/from/env",
	}
	tm := newTestMain(env)
	cfg, err := (&ServeCommand{tm.Main}).config([]string{"--listen", "127.0.0.1:1003"})
	if err != nil {
		t.Fatal(err)
	}
	// The flag beats the variable, which beats the file, which beats the
	// default.
	if cfg.Listen != "127.0.0.1:1003" || cfg.Data != "/from/env" || cfg.Store != "postgres://file/db" || cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("got listen %q, data %q, store %q, shutdown_timeout %s", cfg.Listen, cfg.Data, cfg.Store, cfg.ShutdownTimeout)
	}

	// --config beats SLUICE_CONFIG, and an empty --store selects the
	// embedded store whatever the file says.
	other := writeConfig(t, "data: /from/other\n")
	cfg, err = (&ServeCommand{newTestMain(map[string]string{"SLUICE_CONFIG": file}).Main}).config([]string{"--config", other, "--store", ""})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != "/from/other" || cfg.Store != "" || cfg.Listen != "127.0.0.1:7070" {
		t.Errorf("got data %q, store %q, listen %q", cfg.Data, cfg.Store, cfg.Listen)
	}

	_, err = (&ServeCommand{newTestMain(nil).Main}).config([]string{"--listen", "nowhere", "--data", ""})
	expectProblems(t, err, "invalid configuration, 2 problem(s)", "listen:", "data:")
}

// TestConfigurationDoc checks that docs/configuration.md names every field
// and its environment variable.
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var walk func(typ reflect.Type, path, env string)
	walk = func(typ reflect.Type, path, env string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			p, e := strings.TrimPrefix(path+"."+name, "."), env+"_"+strings.ToUpper(name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p, e)
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				// A list of records, such as http.keys: a table of its fields.
				for n := range yamlFields(f.Type.Elem()) {
					if !strings.Contains(doc, "| `"+n+"` |") {
						t.Errorf("docs/configuration.md does not describe `%s` of `%s`", n, p)
					}
				}
			}
			if !strings.Contains(doc, "`"+p+"`") {
				t.Errorf("docs/configuration.md does not describe `%s`", p)
			}
			if k := f.Type.Kind(); k != reflect.Slice && !strings.Contains(doc, "`"+e+"`") {
				t.Errorf("docs/configuration.md does not name `%s`", e)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", "SLUICE")

	// The example file is valid.
	_, example, ok := strings.Cut(doc, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	if !ok {
		t.Fatal("docs/configuration.md has no example file")
	}
	cfg, err := LoadConfig(writeConfig(t, example), envOf(nil))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Errorf("the example of docs/configuration.md: %v", err)
	}
	for _, v := range []string{"SLUICE_CONFIG", "SLUICE_ADMIN_KEY", "SLUICE_WRITE_KEY"} {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("docs/configuration.md does not name `%s`", v)
		}
	}
}
