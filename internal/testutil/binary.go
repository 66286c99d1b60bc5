package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildSluice builds the sluice command (pkg: the path of cmd/sluice from
// the calling test's package) into a new temporary directory, for tests
// that run the real binary from their TestMain. It returns the binary's
// path and a function that removes it.
func BuildSluice(pkg string) (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", binary, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build sluice: %w", err)
	}
	return binary, remove, nil
}
