package file

import (
	"testing"

	"github.com/sluicehq/sluice/sinktest"
)

func TestConfig_Validate(t *testing.T) {
	yes := true
	for _, tt := range []struct {
		name string
		cfg  Config
		want []string // every line of the error, in order
	}{
		{"File", Config{Path: "./sluice-data/out.ndjson"}, nil},
		{"Stdout", Config{Path: "-"}, nil},
		{"Everything", Config{Path: "out", MaxBytes: 1, MaxFiles: 1, Fsync: &yes}, nil},
		{"NoPath", Config{}, []string{`path: required: a file, or "-" for the standard output`}},
		{"Directory", Config{Path: "out/"}, []string{`path: "out/" names a directory, not a file`}},
		{"StdoutRotatedAndSynced", Config{Path: "-", MaxFiles: 3, Fsync: &yes}, []string{
			"max_bytes: the standard output is not rotated",
			"fsync: the standard output is not synced",
		}},
		{"Negative", Config{Path: "out", MaxBytes: -1, MaxFiles: -1}, []string{
			"max_bytes: must not be negative",
			"max_files: must not be negative",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { sinktest.CheckProblems(t, tt.cfg.Validate(), tt.want) })
	}
}
