package opensearch

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil/fakebulk"
)

func TestIndexPattern(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("UTC-5", -5*3600)) // 08:04 UTC
	for _, tt := range []struct{ pattern, want string }{
		{"events-%Y.%m.%d", "events-2026.01.02"},
		{"events-%Y.%m.%d.%H", "events-2026.01.02.08"},
		{"%Y%m%d", "20260102"},
		{"logs", "logs"},
		{"a%%b-%Y", "a%b-2026"},
		{".sluice-%H", ".sluice-08"},
	} {
		p, err := parseIndexPattern(tt.pattern)
		if err != nil {
			t.Errorf("%q: %v", tt.pattern, err)
			continue
		}
		if got := string(p.append([]byte("prefix:"), at)); got != "prefix:"+tt.want {
			t.Errorf("%q: %q, want %q", tt.pattern, got, "prefix:"+tt.want)
		}
	}
	for _, tt := range []struct{ pattern, want string }{
		{"", "empty"},
		{"events-%", "ends with a lone %"},
		{"events-%y", "%y: want %Y, %m, %d, %H or %%"},
		{"Events-%Y", "upper case"},
		{"events %Y", "a space"},
		{"events/%Y", `one of \ / * ? " < > | , # :`},
		{"a:b", `one of \ / * ? " < > | , # :`},
		{"-events", "starts with -, _ or +"},
		{"_%Y", "starts with -, _ or +"},
		{"..", `".." is not an index name`},
		{strings.Repeat("a", 250) + "%Y%m", "makes names of 256 bytes"},
	} {
		_, err := parseIndexPattern(tt.pattern)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an error saying %q", tt.pattern, err, tt.want)
		}
	}
}

// FuzzParseIndexPattern: a pattern the parser takes makes, at any time,
// names that OpenSearch (as fakebulk checks them) takes too.
func FuzzParseIndexPattern(f *testing.F) {
	for _, s := range []string{"events-%Y.%m.%d", "%H", "a%%", "%", "A", "..", "-x", "x%q"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, pattern string, unix int64) {
		p, err := parseIndexPattern(pattern)
		if err != nil {
			return
		}
		at := time.Unix(unix%(1<<40), 0) // years 1 to 9999, about
		if at.Year() < 1 || at.Year() > 9999 {
			return
		}
		name := string(p.append(nil, at))
		if reason := fakebulk.InvalidIndex(name); reason != "" {
			t.Fatalf("%q makes %q, which OpenSearch refuses: %s", pattern, name, reason)
		}
	})
}
