package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// keysFile is the file of the data directory where sluice before keys in
// the store kept the generated keys (decision D74); it is still read.
const keysFile = "keys.yaml"

// storedKeys is the shape of keys.yaml.
type storedKeys struct {
	Keys []storedKey `yaml:"keys"`
}

// storedKey is a generated key in keys.yaml.
type storedKey struct {
	Name   string       `yaml:"name"`
	Secret string       `yaml:"secret"`
	Role   httpapi.Role `yaml:"role"`
}

// generatedKeys makes sure there are keys when none is configured. Keys
// that an older sluice generated in dir's keys.yaml are returned, to be
// used as configured ones. Otherwise the store keeps the generated keys
// (as hashes), so that every node sharing it has the same: on the first
// start it gets an admin and a write key, which are printed once to out.
// Two nodes starting at once on an empty store both try; the store takes
// one pair, and only its node prints it.
func generatedKeys(ctx context.Context, store sluice.Keys, dir string, out io.Writer) ([]httpapi.Key, error) {
	if dir != "" {
		keys, err := readKeys(filepath.Join(dir, keysFile))
		if !errors.Is(err, fs.ErrNotExist) {
			return keys, err
		}
	}
	rs, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for _, r := range rs {
		if r.Bootstrap {
			return nil, nil
		}
	}
	keys := []httpapi.Key{
		{Name: adminKeyName, Secret: httpapi.NewSecret(httpapi.RoleAdmin), Role: httpapi.RoleAdmin},
		{Name: writeKeyName, Secret: httpapi.NewSecret(httpapi.RoleWrite), Role: httpapi.RoleWrite},
	}
	now := time.Now().UTC()
	records := make([]sluice.KeyRecord, len(keys))
	for i, k := range keys {
		records[i] = sluice.KeyRecord{ID: sluice.NewID(), Name: k.Name, Role: string(k.Role), Hash: sha256.Sum256([]byte(k.Secret)), Bootstrap: true, CreatedAt: now}
	}
	switch err := store.AddKeys(ctx, records); {
	case errors.Is(err, sluice.ErrKeyExists): // another node was first
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("keys: %w", err)
	}
	printKeys(out, keys)
	return nil, nil
}

// readKeys reads the keys file at path, strictly.
func readKeys(path string) ([]httpapi.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var sk storedKeys
	if err := dec.Decode(&sk); err != nil {
		return nil, fmt.Errorf("keys %s: %w", path, err)
	}
	keys := make([]httpapi.Key, len(sk.Keys))
	for i, k := range sk.Keys {
		keys[i] = httpapi.Key{Name: k.Name, Secret: k.Secret, Role: k.Role}
	}
	return keys, nil
}

// printKeys shows newly generated keys in a box.
func printKeys(out io.Writer, keys []httpapi.Key) {
	lines := []string{"sluice created these API keys. They are shown this once only:", ""}
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("  %-6s %s", k.Name, k.Secret))
	}
	lines = append(lines, "", "The store keeps their SHA-256, not the keys: every node sharing",
		"it uses them as long as no key is configured. More keys: /v1/keys.")
	width := 0
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l))
	}
	var b strings.Builder
	b.WriteString("\n╔" + strings.Repeat("═", width+2) + "╗\n")
	for _, l := range lines {
		b.WriteString("║ " + l + strings.Repeat(" ", width-utf8.RuneCountInString(l)) + " ║\n")
	}
	b.WriteString("╚" + strings.Repeat("═", width+2) + "╝\n\n")
	io.WriteString(out, b.String())
}
