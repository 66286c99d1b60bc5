package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/sqlite"
)

// The earlier releases that TestRollback builds from git (the repository
// of this checkout; a clone of main has them).
const (
	// previousRelease is the previous release, the last submission that
	// landed before the migrations declared what they do to older
	// binaries: it knows the embedded store's migrations up to 008 and
	// PostgreSQL's up to 006, and checks nothing of a newer schema.
	previousRelease = "51acadca1362d788bdc9c782add7121abccd7b3a"
	// beforeSegments knows the embedded store's migrations up to 005:
	// the last commit before 006 moved the events to segment files and
	// 007 the dedupe index to ids.db.
	beforeSegments = "f0120f380d90d5ac14a200ed2141686f1ac124c0"
	// futureRelease is the release of the binary built from this checkout
	// with one more migration on each store that breaks the binaries
	// before it.
	futureRelease = "v-future"
)

// TestRollback runs earlier and later binaries on the stores this one
// made: the previous release runs on them (their one newer migration is
// additive) and reads and writes what the others wrote; this binary
// refuses a store that a newer one migrated past what it can run on,
// naming the release to run, and changes nothing; and a binary from before
// the embedded store's non-additive migrations fails in its own way.
func TestRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds earlier releases of sluice from git: not with -short")
	}
	t.Parallel()
	begin := time.Now()
	previous := buildCommit(t, previousRelease)
	future := buildFuture(t)
	t.Logf("built %s and the future binary in %s", previousRelease[:7], time.Since(begin).Round(time.Millisecond))

	t.Run("PreviousRelease", func(t *testing.T) {
		t.Parallel()
		t.Run("Embedded", func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			ingestWith(t, binary, data, nil, 3)

			prev := startRollback(t, previous, data, nil)
			if n := countEvents(t, prev.Base); n != 3 {
				t.Fatalf("the previous release reads %d events, want the 3 this one wrote", n)
			}
			ingest(t, prev.Base, 2)
			prev.Stop(t)

			checkEvents(t, binary, data, nil, 5)
		})
		// A fleet half rolled back: the previous release and this one
		// serve the same schema at once.
		t.Run("PostgreSQL", func(t *testing.T) {
			t.Parallel()
			env, _ := postgresEnv(t)
			current := startRollback(t, binary, t.TempDir(), env)
			ingest(t, current.Base, 3)
			prev := startRollback(t, previous, t.TempDir(), env)
			ingest(t, prev.Base, 2)
			ingest(t, current.Base, 1)
			for _, s := range []*testutil.Sluice{prev, current} {
				if n := countEvents(t, s.Base); n != 6 {
					t.Errorf("%s reads %d events, want the 6 both wrote", s.Cmd.Path, n)
				}
			}
			prev.Stop(t)
			current.Stop(t)
		})
	})

	t.Run("NewerSchemaRefused", func(t *testing.T) {
		t.Parallel()
		embedded, err := sqlite.NewestMigration()
		if err != nil {
			t.Fatal(err)
		}
		pg, err := postgres.NewestMigration()
		if err != nil {
			t.Fatal(err)
		}
		t.Run("Embedded", func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			ingestWith(t, binary, data, nil, 2)
			ingestWith(t, future, data, nil, 1)

			before := testutil.FileSums(t, data)
			want := fmt.Sprintf("the embedded store schema is at migration %d and needs a binary that knows migration %d or later (sluice %s, which applied it, does); this binary, sluice dev, knows migrations up to %d and changed nothing",
				embedded+1, embedded+1, futureRelease, embedded)
			for _, args := range [][]string{
				{"serve", "--listen", "127.0.0.1:0", "--data", data},
				{"export", "--data", data, "--out", filepath.Join(t.TempDir(), "out.ndjson")},
				{"backup", "--data", data, filepath.Join(t.TempDir(), "backup")},
			} {
				if out := refused(t, binary, nil, args...); !strings.Contains(out, want) {
					t.Errorf("sluice %s says\n%s\nwant it to say\n%s", args[0], out, want)
				}
			}
			if after := testutil.FileSums(t, data); !maps.Equal(before, after) {
				t.Errorf("the refusals changed the data directory: %d files before, %d after", len(before), len(after))
			}

			// A binary from before the check runs on it, whatever the
			// newer migration did (here: nothing it would notice).
			checkEvents(t, previous, data, nil, 3)
		})
		t.Run("PostgreSQL", func(t *testing.T) {
			t.Parallel()
			env, schema := postgresEnv(t)
			ingestWith(t, binary, t.TempDir(), env, 2)
			next := startRollback(t, future, t.TempDir(), env)
			ingest(t, next.Base, 1)

			want := fmt.Sprintf("migrate schema %s: the PostgreSQL schema is at migration %d and needs a binary that knows migration %d or later (sluice %s, which applied it, does); this binary, sluice dev, knows migrations up to %d and changed nothing",
				schema, pg+1, pg+1, futureRelease, pg)
			for _, args := range [][]string{
				{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
				{"export", "--out", filepath.Join(t.TempDir(), "out.ndjson")},
			} {
				if out := refused(t, binary, env, args...); !strings.Contains(out, want) {
					t.Errorf("sluice %s says\n%s\nwant it to say\n%s", args[0], out, want)
				}
			}
			if n := countEvents(t, next.Base); n != 3 {
				t.Errorf("the newer binary reads %d events after the refusals, want 3", n)
			}
			next.Stop(t)
		})
	})

	// "sluice restart" onto a binary that cannot run on the store: the
	// successor refuses before it says it is ready (on the embedded store
	// it reads the schema beside the old process), exits, and the process
	// it would have replaced keeps serving.
	t.Run("RestartRefused", func(t *testing.T) {
		t.Parallel()
		for name, env := range map[string]func(*testing.T) []string{
			"Embedded":   func(*testing.T) []string { return nil },
			"PostgreSQL": func(t *testing.T) []string { env, _ := postgresEnv(t); return env },
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				data, bin := t.TempDir(), filepath.Join(t.TempDir(), "sluice")
				install(t, future, bin)
				s := startRollback(t, bin, data, env(t))
				ingest(t, s.Base, 2)
				var pid int
				testutil.Eventually(t, 10*time.Second, func() bool {
					var err error
					pid, err = readPID(filepath.Join(data, pidFileName))
					return err == nil
				}, "the pid file is written")
				install(t, binary, bin)
				if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, 60*time.Second, func() bool { return len(logLines(s.Log.String(), "restart failed; this process keeps serving")) == 1 },
					"the old process logs that the restart failed")
				if !strings.Contains(s.Log.String(), "needs a binary that knows migration") {
					t.Errorf("the log does not say why the new binary refused:\n%s", s.Log)
				}
				if now, err := readPID(filepath.Join(data, pidFileName)); err != nil || now != pid {
					t.Errorf("pid file: %d, %v; want the old process %d", now, err, pid)
				}
				ingest(t, s.Base, 1)
				if n := countEvents(t, s.Base); n != 3 {
					t.Errorf("the old process reads %d events after the failed restart, want 3", n)
				}
				s.Stop(t)
			})
		}
	})

	// A binary from before 006 and 007 predates the check: it fails on
	// what 007 dropped, exits, and leaves the store to the binaries that
	// can run on it.
	t.Run("BeforeSegments", func(t *testing.T) {
		t.Parallel()
		old := buildCommit(t, beforeSegments)
		data := t.TempDir()
		ingestWith(t, binary, data, nil, 2)
		if out := refused(t, old, nil, "serve", "--listen", "127.0.0.1:0", "--data", data); !strings.Contains(out, "no such table: id_index_state") {
			t.Errorf("the binary of %s says\n%s\nwant it to fail on id_index_state", beforeSegments[:7], out)
		}
		checkEvents(t, binary, data, nil, 2)
	})
}

// startRollback starts bin serving data with the restart tests' keys and
// env.
func startRollback(t *testing.T, bin, data string, env []string) *testutil.Sluice {
	t.Helper()
	env = append([]string{"SLUICE_ADMIN_KEY=" + restartAdminKey, "SLUICE_WRITE_KEY=" + restartWriteKey, "SLUICE_WRITER_MAX_QUEUE_DELAY=5s"}, env...)
	return testutil.StartSluice(t, bin, env, "--data", data)
}

// postgresEnv makes a schema of the test's own and returns the variables
// that serve it, and its name.
func postgresEnv(t *testing.T) (env []string, schema string) {
	t.Helper()
	url, schema := testutil.PostgresSchema(t)
	return []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}, schema
}

// ingestWith starts bin serving data with env, ingests n events through
// it, and stops it.
func ingestWith(t *testing.T, bin, data string, env []string, n int) {
	t.Helper()
	s := startRollback(t, bin, data, env)
	ingest(t, s.Base, n)
	s.Stop(t)
}

// checkEvents starts bin serving data with env, fails the test unless the
// log holds want events, and stops it.
func checkEvents(t *testing.T, bin, data string, env []string, want int) {
	t.Helper()
	s := startRollback(t, bin, data, env)
	if n := countEvents(t, s.Base); n != want {
		t.Errorf("%s reads %d events, want %d", bin, n, want)
	}
	s.Stop(t)
}

// ingest stores n events through base in one durable request.
func ingest(t *testing.T, base string, n int) {
	t.Helper()
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{"type": "rollback.test", "data": map[string]int{"n": i}}
	}
	body, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, http.StatusOK, http.MethodPost, base+"/v1/events", restartWriteKey, string(body))
}

// refused runs bin with args, env and no other SLUICE_ variable, and
// returns its standard error; the test fails unless it exits with status 1
// within a minute.
func refused(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append([]string{"SLUICE_ADMIN_KEY=" + restartAdminKey}, env...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("sluice %s: %v (exit status 1 wanted); its output:\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// install puts a copy of the binary from at to, as a deploy does: a new
// file renamed over the old one, which a running process may be executing.
func install(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".new", b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".new", to); err != nil {
		t.Fatal(err)
	}
}

// buildCommit builds the sluice command of commit, taken from git with
// git archive, into the test's temporary directory, with its release set
// to the commit's first 7 digits. The Go build cache keeps what it
// compiled (-trimpath: whatever the directory), so a second build takes
// seconds. Without git or the commit the test skips, or fails under CI.
func buildCommit(t *testing.T, commit string) string {
	t.Helper()
	if out, err := exec.Command("git", "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("commit %s is not in this checkout's git repository (%v: %s)", commit, err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + ": skipping")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("git", "-C", "../..", "archive", "--format=tar", commit) // the whole tree, not cmd/sluice's
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	var archiveErr, untarErr strings.Builder
	archive.Stderr, untar.Stderr = &archiveErr, &untarErr
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v: %s", commit, err, &archiveErr)
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, &untarErr)
	}
	bin := filepath.Join(dir, "sluice")
	goBuild(t, src, []string{"GOFLAGS=-mod=mod"}, "-trimpath", "-ldflags", "-X main.version="+commit[:7], "-o", bin, "./cmd/sluice")
	return bin
}

// buildFuture builds this checkout's sluice command with one more
// migration for each store, which breaks the binaries before it, and
// futureRelease as its release: the binary of a later release.
func buildFuture(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	replace := map[string]string{}
	for _, store := range []struct {
		dir    string
		newest func() (int, error)
	}{{"sqlite", sqlite.NewestMigration}, {"postgres", postgres.NewestMigration}} {
		n, err := store.newest()
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%03d_future.sql", n+1)
		file := filepath.Join(dir, store.dir+"_"+name)
		sql := fmt.Sprintf("-- sluice: breaks-before %d\nCREATE TABLE future (x integer);\n", n+1)
		if err := os.WriteFile(file, []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
		replace[filepath.Join(root, store.dir, "migrations", name)] = file
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sluice")
	goBuild(t, root, nil, "-overlay", overlayFile, "-ldflags", "-X main.version="+futureRelease, "-o", bin, "./cmd/sluice")
	return bin
}

// goBuild runs "go build args..." in dir with the environment and env.
func goBuild(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	begin := time.Now()
	build := exec.Command("go", append([]string{"build"}, args...)...)
	build.Dir, build.Env = dir, append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, out)
	}
	t.Logf("go build %s in %s: %s", strings.Join(args, " "), dir, time.Since(begin).Round(time.Millisecond))
}
