package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/sqlite"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3". Left empty, the build info's module
// version is used (a tag, or a pseudo-version made from the commit).
var version = ""

const versionUsage = `Usage: sluice version

Prints sluice's version, the commit it was built from (when built from a
git checkout) and the Go version it was built with, then the newest schema
migration it knows of each store: it runs on a store whose schema is newer
only when the migrations after these are additive (docs/operations.md,
"Rollback").
`

// VersionCommand is "sluice version".
type VersionCommand struct{ *Main }

// Run prints the version.
func (c *VersionCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := c.parseFlags(fs, args, versionUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("version: takes no arguments")
	}
	info, _ := debug.ReadBuildInfo()
	line, err := describeMigrations()
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	fmt.Fprintf(c.Stdout, "%s\n%s\n", describeVersion(version, info), line)
	return nil
}

// describeMigrations is the line "sluice version" prints about the schema
// migrations this build knows, the numbers that a refusal to open a newer
// schema names.
func describeMigrations() (string, error) {
	embedded, err := sqlite.NewestMigration()
	if err != nil {
		return "", err
	}
	pg, err := postgres.NewestMigration()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("schema migrations: embedded store up to %d, PostgreSQL up to %d", embedded, pg), nil
}

// thisRelease is this binary's release (see releaseOf), which the stores
// record with the migrations they apply.
func thisRelease() string {
	info, _ := debug.ReadBuildInfo()
	return releaseOf(version, info)
}

// describeVersion is the line "sluice version" prints: release (from
// -ldflags; else the module version of info; else "dev"), then the VCS
// revision and whether the tree was modified, when info has them, and the
// Go version. info may be nil.
func describeVersion(release string, info *debug.BuildInfo) string {
	goVersion := runtime.Version()
	var details []string
	release = releaseOf(release, info)
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		var rev, at string
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			commit := "commit " + rev
			if at != "" {
				commit += " of " + at
			}
			if modified {
				commit += ", modified"
			}
			details = append(details, commit)
		}
	}
	return fmt.Sprintf("sluice %s (%s)", release, strings.Join(append(details, goVersion), "; "))
}

// releaseOf is the release: release (from -ldflags), else the module
// version of info (nil: none), else "dev".
func releaseOf(release string, info *debug.BuildInfo) string {
	if release == "" && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		release = info.Main.Version
	}
	if release == "" {
		release = "dev"
	}
	return release
}
