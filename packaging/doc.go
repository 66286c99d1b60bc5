// Package packaging holds no code: it keeps the files that make dist puts
// in the release tarball beside the binary (the systemd units, the example
// configuration), and the test that builds the tarball, unpacks it and
// checks what it holds (docs/operations.md, "Deploy").
package packaging
