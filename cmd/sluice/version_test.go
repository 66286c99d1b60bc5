package main

import (
	"debug/buildinfo"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeVersion(t *testing.T) {
	t.Parallel()
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-03T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name    string
		release string
		info    *debug.BuildInfo
		want    string
	}{
		{"NoBuildInfo", "", nil, "sluice dev (" + runtime.Version() + ")"},
		{"Ldflags", "v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-x"}}, "sluice v1.2.3 (go1.26.0)"},
		{"Devel", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "sluice dev (go1.26.0)"},
		{"Tag", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}}, "sluice v1.4.0 (go1.26.0)"},
		{"Checkout", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261203100000-0123456789ab+dirty"}, Settings: vcs},
			"sluice v0.0.0-20261203100000-0123456789ab+dirty (commit 0123456789abcdef0123456789abcdef01234567 of 2026-12-03T10:00:00Z, modified; go1.26.0)"},
		{"LdflagsAndCheckout", "v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.0", Settings: vcs[:2]},
			"sluice v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567; go1.26.0)"},
	} {
		if got := describeVersion(tc.release, tc.info); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The binary prints what its own build info says: the module version and
// the commit when the build stamped them (go build does in a git clone;
// not in a git worktree, nor with -buildvcs=false), then the migrations it
// knows.
func TestVersion_Binary(t *testing.T) {
	t.Parallel()
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	out := string(runBinary(t, nil, "version"))
	migrations, err := describeMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if want := describeVersion("", info) + "\n" + migrations + "\n"; out != want {
		t.Errorf("sluice version printed %q, want %q", out, want)
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(out, s.Value) {
			t.Errorf("sluice version printed %q, not the commit %s", out, s.Value)
		}
	}
}
