package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/postgres"
)

// Config is the configuration of sluice serve: the YAML file's shape. Every
// scalar field can be overridden by an environment variable named SLUICE_
// and its YAML path in upper case, joined by _ (see docs/configuration.md).
type Config struct {
	// Listen is the address the HTTP API listens on; port 0 picks a free
	// port. Default "127.0.0.1:7070".
	Listen string `yaml:"listen"`
	// Data is the directory of the embedded store, and of the generated
	// keys when no key is configured. Default "./sluice-data".
	Data string `yaml:"data"`
	// Store selects the backend: a postgres:// or postgresql:// URL for
	// PostgreSQL, empty for the embedded store in Data. Default "".
	Store string `yaml:"store"`
	// PostgresSchema is the PostgreSQL schema that holds sluice's tables;
	// only used with a PostgreSQL store. Default "sluice".
	PostgresSchema string `yaml:"postgres_schema"`
	// ShutdownTimeout bounds each wait of a graceful shutdown: for the
	// requests in flight, then for the queued events to be committed.
	// Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainDelay is how long, on SIGTERM or SIGINT, /readyz answers 503
	// while requests are still served, so that load balancers stop sending
	// before the listener closes. Default 0s.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// SchemasDir, when set, is a directory of JSON Schemas registered at
	// start, one file per event type named after it (page_viewed.json); a
	// schema registered already makes no new version. Default "" (none).
	SchemasDir string `yaml:"schemas_dir"`
	// Writer configures the group-commit writer.
	Writer WriterConfig `yaml:"writer"`
	// HTTP configures the HTTP API: keys, limits, metrics.
	HTTP httpapi.Config `yaml:"http"`
	// Node names this process among those sharing a store: in the leases
	// of the sinks it runs, and in the names of the objects it writes.
	// Default: the host name, and on PostgreSQL the process id too
	// (host-1234).
	Node string `yaml:"node"`
	// Sinks are the destinations the log is delivered to, each on its own
	// cursor (docs/sinks.md). Default: none.
	Sinks []SinkConfig `yaml:"sinks"`
}

// WriterConfig configures the group-commit writer. A field left at 0 takes
// its default.
type WriterConfig struct {
	// MaxQueueEvents bounds the events queued or being committed; beyond
	// it, ingest answers 503. Default 100000.
	MaxQueueEvents int `yaml:"max_queue_events"`
	// MaxQueueBytes bounds the bytes of those events. Default 67108864
	// (64 MiB).
	MaxQueueBytes int `yaml:"max_queue_bytes"`
	// MaxCommitEvents bounds the events of one commit (a larger single
	// request is committed alone). Default 10000.
	MaxCommitEvents int `yaml:"max_commit_events"`
	// CommitTimeout bounds one commit. Default 30s.
	CommitTimeout time.Duration `yaml:"commit_timeout"`
}

// Names of the keys that SLUICE_ADMIN_KEY and SLUICE_WRITE_KEY define.
const (
	adminKeyName = "admin"
	writeKeyName = "write"
)

// DefaultConfig returns the configuration used when nothing is configured.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:7070",
		Data:            "./sluice-data",
		ShutdownTimeout: 30 * time.Second,
	}
}

// LoadConfig returns the configuration of the file at path (none when path
// is empty) over the defaults, with the environment's SLUICE_ variables
// applied. On error the configuration is still as complete as it could be
// made, so that every problem can be reported at once.
func LoadConfig(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	if path != "" {
		if err := decodeConfigFile(path, &cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := applyEnv(&cfg, "SLUICE", lookupEnv); err != nil {
		errs = append(errs, err)
	}
	applyEnvKeys(&cfg, lookupEnv)
	return cfg, errors.Join(errs...)
}

// decodeConfigFile decodes the YAML file at path into cfg, strictly: an
// unknown field is an error naming its line.
func decodeConfigFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return decodeConfig(f, path, cfg)
}

// decodeConfig decodes one YAML document from r into cfg; name is where r
// comes from, for the errors. An empty document leaves cfg as it is.
func decodeConfig(r io.Reader, name string, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	var sinkErrs []error
	for _, s := range cfg.Sinks {
		if s.err != nil {
			sinkErrs = append(sinkErrs, fmt.Errorf("%s: %w", name, s.err))
		}
	}
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return errors.Join(sinkErrs...)
	case errors.As(err, &te):
		// Decoding goes on past type errors, so each one is reported.
		errs := make([]error, len(te.Errors))
		for i, msg := range te.Errors {
			errs[i] = fmt.Errorf("%s: %s", name, friendlyYAMLError(msg))
		}
		return errors.Join(append(errs, sinkErrs...)...)
	default:
		return fmt.Errorf("%s: %w", name, err)
	}
}

// unknownField matches yaml.v3's message for an unknown field.
var unknownField = regexp.MustCompile(`^(line \d+): field (\S+) not found in type \S+$`)

// friendlyYAMLError rewrites yaml.v3's unknown-field message, which names
// Go types, in the configuration's terms.
func friendlyYAMLError(msg string) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s: unknown field %q", m[1], m[2])
	}
	return msg
}

// durationType is time.Duration's type, which the environment gives as
// "30s".
var durationType = reflect.TypeFor[time.Duration]()

// applyEnv sets each scalar field of the struct that v points to from the
// variable named prefix_ and the field's YAML path in upper case joined by
// _, when that variable is set and not empty. It reports every malformed
// value, naming its variable.
func applyEnv(v any, prefix string, lookupEnv func(string) (string, bool)) error {
	return errors.Join(applyEnvStruct(reflect.ValueOf(v).Elem(), prefix, lookupEnv)...)
}

// applyEnvStruct is applyEnv on a struct value.
func applyEnvStruct(v reflect.Value, prefix string, lookupEnv func(string) (string, bool)) []error {
	var errs []error
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		key := prefix + "_" + strings.ToUpper(name)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			errs = append(errs, applyEnvStruct(fv, key, lookupEnv)...)
			continue
		}
		s, ok := lookupEnv(key)
		if !ok || s == "" {
			continue
		}
		if err := setScalar(fv, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q %w", key, s, err))
		}
	}
	return errs
}

// yamlName is the name of the field in YAML, "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch {
	case name == "-", opts == "inline":
		return ""
	case name == "":
		return strings.ToLower(f.Name)
	}
	return name
}

// setScalar parses s into v according to v's kind. Fields that are not
// scalars (lists) are left alone: only the file can set them.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("is not a duration such as 30s or 500ms")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("is not true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("is not an integer of %d bits", v.Type().Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("is not an unsigned integer of %d bits", v.Type().Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return errors.New("is not a number")
		}
		v.SetFloat(n)
	}
	return nil
}

// applyEnvKeys adds the keys that SLUICE_ADMIN_KEY and SLUICE_WRITE_KEY
// define; each replaces a configured key of the same name.
func applyEnvKeys(cfg *Config, lookupEnv func(string) (string, bool)) {
	for _, k := range []struct {
		env  string
		name string
		role httpapi.Role
	}{
		{"SLUICE_ADMIN_KEY", adminKeyName, httpapi.RoleAdmin},
		{"SLUICE_WRITE_KEY", writeKeyName, httpapi.RoleWrite},
	} {
		secret, ok := lookupEnv(k.env)
		if !ok || secret == "" {
			continue
		}
		setKey(&cfg.HTTP, httpapi.Key{Name: k.name, Secret: secret, Role: k.role})
	}
}

// setKey replaces the key of k's name with k, or adds k.
func setKey(c *httpapi.Config, k httpapi.Key) {
	for i := range c.Keys {
		if c.Keys[i].Name == k.Name {
			c.Keys[i] = k
			return
		}
	}
	c.Keys = append(c.Keys, k)
}

// Validate returns every problem of the configuration at once, each with
// its field's path. No keys is not a problem: serve generates them.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: required"))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
	}
	if c.Data == "" && (c.Store == "" || len(c.HTTP.Keys) == 0) {
		errs = append(errs, errors.New("data: required for the embedded store and for generated keys"))
	}
	errs = append(errs, c.storeProblems()...)
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout: must be positive"))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, errors.New("drain_delay: must not be negative"))
	}
	errs = append(errs, c.Writer.problems()...)
	errs = append(errs, c.httpProblems()...)
	if c.Node != "" && sluice.CheckSubscriptionName(c.Node) != nil {
		errs = append(errs, fmt.Errorf("node: %q must be 1–128 of A-Z a-z 0-9 . _ : -", c.Node))
	}
	errs = append(errs, c.sinksProblems()...)
	return errors.Join(errs...)
}

// storeProblems checks the store URL and the PostgreSQL schema.
func (c Config) storeProblems() []error {
	if c.Store == "" {
		return nil
	}
	if !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		return []error{errors.New("store: must be a postgres:// or postgresql:// URL, or empty for the embedded store")}
	}
	err := postgres.Options{URL: c.Store, Schema: c.PostgresSchema}.Validate()
	field := map[string]string{"url": "store", "schema": "postgres_schema"} // their names here
	var errs []error
	for _, e := range unjoin(err) {
		var oe *postgres.OptionError
		if errors.As(e, &oe) && field[oe.Field] != "" {
			e = fmt.Errorf("%s: %s", field[oe.Field], oe.Reason)
		}
		errs = append(errs, e)
	}
	return errs
}

// problems checks the writer's configuration.
func (w WriterConfig) problems() []error {
	var errs []error
	for _, f := range []struct {
		path string
		neg  bool
	}{
		{"writer.max_queue_events", w.MaxQueueEvents < 0},
		{"writer.max_queue_bytes", w.MaxQueueBytes < 0},
		{"writer.max_commit_events", w.MaxCommitEvents < 0},
		{"writer.commit_timeout", w.CommitTimeout < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.path))
		}
	}
	return errs
}

// httpProblems checks the HTTP API's configuration, with paths under
// "http.". With no keys it is checked as if the generated ones were there.
func (c Config) httpProblems() []error {
	h := c.HTTP
	if len(h.Keys) == 0 {
		h.Keys = []httpapi.Key{
			{Name: adminKeyName, Secret: "sk_admin_placeholder", Role: httpapi.RoleAdmin},
			{Name: writeKeyName, Secret: "sk_write_placeholder", Role: httpapi.RoleWrite},
		}
	}
	var errs []error
	for _, e := range unjoin(h.Validate()) {
		errs = append(errs, fmt.Errorf("http.%w", e))
	}
	return errs
}

// unjoin returns the errors that errors.Join joined into err, however
// deeply, or err alone.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if err == nil {
			return nil
		}
		return []error{err}
	}
	var errs []error
	for _, e := range j.Unwrap() {
		errs = append(errs, unjoin(e)...)
	}
	return errs
}

// writerOptions are the writer's options under this configuration.
func (c Config) writerOptions() sluice.WriterOptions {
	return sluice.WriterOptions{
		MaxQueueEvents:  c.Writer.MaxQueueEvents,
		MaxQueueBytes:   c.Writer.MaxQueueBytes,
		MaxCommitEvents: c.Writer.MaxCommitEvents,
		CommitTimeout:   c.Writer.CommitTimeout,
		Limits:          c.limits(),
	}
}

// limits are the event limits of the writer and the store: the HTTP API's.
func (c Config) limits() sluice.Limits {
	return sluice.Limits{MaxEventBytes: c.HTTP.WithDefaults().Limits.MaxEventBytes}
}
