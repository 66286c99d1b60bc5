package packaging_test

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestDist builds the tarball with make dist, unpacks it into a fresh
// directory and checks what it holds: the files at their places, owned by
// root, a binary that prints the version it was given, an example
// configuration that config check accepts, and unit files that
// systemd-analyze verify accepts.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const version = "v0.0.0-disttest"
	out := t.TempDir()
	make := exec.Command("make", "--no-print-directory", "dist", "VERSION="+version, "DISTDIR="+out)
	make.Dir = ".."
	if b, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, b)
	}
	tarball := filepath.Join(out, "sluice-"+version+"-linux-amd64.tar.gz")
	root := t.TempDir()
	modes := unpack(t, tarball, root, 1)
	for name, mode := range map[string]os.FileMode{
		"usr/local/bin/sluice":                                   0o755,
		"etc/systemd/system/sluice.service":                      0o644,
		"etc/systemd/system/sluice.socket":                       0o644,
		"etc/sluice/sluice.yml":                                  0o644,
		"usr/local/share/doc/sluice/operations.md":               0o644,
		"usr/local/share/doc/sluice/README.md":                   0o644,
		"usr/local/share/doc/sluice/prometheus/sluice-rules.yml": 0o644,
	} {
		if got, ok := modes[name]; !ok {
			t.Errorf("the tarball has no %s", name)
		} else if got != mode {
			t.Errorf("%s has mode %v, want %v", name, got, mode)
		}
	}
	bin := filepath.Join(root, "usr/local/bin/sluice")
	b, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(b), "sluice "+version+" (") {
		t.Errorf("sluice version: %v: %q, want it to start %q", err, b, "sluice "+version+" (")
	}
	check := exec.Command(bin, "config", "check", filepath.Join(root, "etc/sluice/sluice.yml"))
	check.Env = []string{"PATH=" + os.Getenv("PATH")}
	if b, err := check.CombinedOutput(); err != nil {
		t.Errorf("sluice config check of the example configuration: %v\n%s", err, b)
	}

	analyze := testutil.Tool(t, "systemd-analyze")
	// The units are verified as unpacked, but for ExecStart's binary,
	// looked up at the unpacked tree's (it is not installed on this host).
	units := t.TempDir()
	for _, unit := range []string{"sluice.socket", "sluice.service"} {
		b, err := os.ReadFile(filepath.Join(root, "etc/systemd/system", unit))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sluice", bin))
		if err := os.WriteFile(filepath.Join(units, unit), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := exec.Command(analyze, "verify", "--man=no", filepath.Join(units, "sluice.socket"), filepath.Join(units, "sluice.service"))
	if b, err := verify.CombinedOutput(); err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
}

// unpack extracts the gzip tarball into dir, dropping strip leading path
// elements (as tar --strip-components), and returns each regular file's
// mode. Every entry must be owned by root.
func unpack(t *testing.T, tarball, dir string, strip int) map[string]os.FileMode {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	modes := map[string]os.FileMode{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return modes
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		parts := strings.Split(strings.Trim(h.Name, "/"), "/")
		if len(parts) <= strip {
			continue
		}
		name := filepath.Join(parts[strip:]...)
		if !filepath.IsLocal(name) {
			t.Fatalf("%s leaves the directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
			modes[filepath.ToSlash(name)] = h.FileInfo().Mode().Perm()
		default:
			t.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
}

// TestGoInstall: go install github.com/sluicehq/sluice/cmd/sluice@latest
// refuses a module whose go.mod has replace or exclude directives.
func TestGoInstall(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "replace" || f[0] == "exclude") {
			t.Errorf("go.mod has %q: go install …/cmd/sluice@latest would refuse the module", strings.TrimSpace(line))
		}
	}
	if !strings.HasPrefix(string(b), "module github.com/sluicehq/sluice\n") {
		t.Error("go.mod does not declare module github.com/sluicehq/sluice")
	}
}
