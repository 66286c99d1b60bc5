package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The README's walk through with curl, run literally against the binary:
// every ```sh block from "## A walk through with curl" to the next "## "
// section, in order, with bash and curl, each "# {…}" sample line compared
// with the command's real answer ("…" matches anything), with the keys
// that the first start generates and prints. A "go run ./cmd/sluice serve
// ARGS" line restarts the server on the same data.
func TestREADME_Walkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed: %v", tool, err)
			}
			t.Skipf("skipping: %s is needed: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := walkthroughBlocks(string(readme))
	if len(blocks) < 5 {
		t.Fatalf("found %d sh blocks in the README's walk through, want at least 5", len(blocks))
	}
	dir := t.TempDir()
	env := []string{"SLUICE_DATA=" + filepath.Join(dir, "sluice-data")}
	srv := testutil.StartSluice(t, binary, env)
	// The keys it generates and prints, as a new user copies them.
	adminKey := regexp.MustCompile(`sk_admin_\S+`).FindString(srv.Log.String())
	writeKey := regexp.MustCompile(`sk_write_\S+`).FindString(srv.Log.String())
	if adminKey == "" || writeKey == "" {
		t.Fatalf("the first start printed no admin and write key:\n%s", srv.Log)
	}
	if err := os.WriteFile(filepath.Join(dir, ".curlrc"), []byte("max-time = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	samples := 0
	for _, block := range blocks {
		for _, c := range parseCommands(block) {
			if args, ok := strings.CutPrefix(c.text, "go run ./cmd/sluice serve"); ok {
				srv.Stop(t)
				srv = testutil.StartSluice(t, binary, env, resolveArgs(dir, strings.Fields(args))...)
				continue
			}
			if strings.HasPrefix(c.text, "W=") || strings.HasPrefix(c.text, "A=") {
				continue // the keys: W and A are set below
			}
			run := func() string {
				t.Helper()
				script := strings.ReplaceAll(c.text, "localhost:7070", strings.TrimPrefix(srv.Base, "http://"))
				cmd := exec.Command("bash", "-c", script)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "W="+writeKey, "A="+adminKey, "CURL_HOME="+dir)
				out, err := cmd.CombinedOutput()
				// A live tail never ends: curl's --max-time (in .curlrc) cuts it.
				if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 28 && len(out) > 0) {
					t.Fatalf("README command failed: %v\n%s\noutput:\n%s\nserver log:\n%s", err, c.text, out, srv.Log)
				}
				return strings.TrimSpace(string(out))
			}
			out := run()
			if c.sample == "" {
				continue
			}
			samples++
			// A read shows a state that a reader typing the commands sees
			// within seconds (a sink's first failed attempt): polled.
			deadline := time.Now().Add(10 * time.Second)
			for !sampleMatches(c.sample, out) && isRead(c.text) && time.Now().Before(deadline) {
				<-poll.C
				out = run()
			}
			if !sampleMatches(c.sample, out) {
				t.Errorf("README command\n  %s\nanswered\n  %s\nnot the README's sample\n  %s", c.text, out, c.sample)
			}
		}
	}
	if samples < 10 {
		t.Errorf("compared %d samples, want at least 10: is the parser still finding them?", samples)
	}
}

// walkthroughBlocks returns the ```sh blocks of the README's "## A walk
// through with curl" section and its subsections.
func walkthroughBlocks(readme string) []string {
	_, section, _ := strings.Cut(readme, "\n## A walk through with curl\n")
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for {
		var block string
		var ok bool
		if _, section, ok = strings.Cut(section, "```sh\n"); !ok {
			return blocks
		}
		block, section, _ = strings.Cut(section, "```")
		blocks = append(blocks, block)
	}
}

// command is one shell command of a README block and the sample answer
// shown under it ("" for none).
type command struct{ text, sample string }

// heredoc matches the start of a here-document, capturing its delimiter.
var heredoc = regexp.MustCompile(`<<-?'?([A-Za-z_]+)'?`)

// parseCommands splits a block into commands: a line, with the lines a
// trailing \ or a here-document join to it, and the "# {…}" lines after
// it as its sample (continued on "#  " lines until its braces close).
func parseCommands(block string) []command {
	lines := strings.Split(block, "\n")
	var cmds []command
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "#"):
			text := strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			if len(cmds) == 0 || !strings.HasPrefix(text, "{") {
				continue // a comment
			}
			// A sample: JSON that may go on over the next comment lines.
			for !balanced(text) && i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "#") {
				i++
				text += strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "#"))
			}
			cmds[len(cmds)-1].sample = jsonPrefix(text)
			continue
		}
		text := line
		for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
			i++
			text += "\n" + lines[i]
		}
		if m := heredoc.FindStringSubmatch(line); m != nil {
			for i+1 < len(lines) {
				i++
				text += "\n" + lines[i]
				if strings.TrimSpace(lines[i]) == m[1] {
					break
				}
			}
		}
		cmds = append(cmds, command{text: text})
	}
	return cmds
}

// jsonPrefix returns the JSON value text starts with, without the remark
// after it.
func jsonPrefix(text string) string {
	depth, inString, escaped := 0, false, false
	for i, r := range text {
		switch {
		case escaped:
			escaped = false
		case inString && r == '\\':
			escaped = true
		case r == '"':
			inString = !inString
		case inString:
		case r == '{' || r == '[':
			depth++
		case r == '}' || r == ']':
			depth--
			if depth == 0 {
				return text[:i+1]
			}
		}
	}
	return text
}

// balanced reports whether text holds a whole JSON value.
func balanced(text string) bool { return jsonPrefix(text) != text || json.Valid([]byte(text)) }

// sampleMatches reports whether got is the sample, "…" matching anything.
func sampleMatches(sample, got string) bool {
	parts := strings.Split(sample, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("(?s)^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

// writes matches the curl options that send a body or another method.
var writes = regexp.MustCompile(`(^|\s)(-X|--json|-d|--data\S*|-F)\s`)

// isRead reports whether a command is a curl GET, safe to repeat.
func isRead(text string) bool {
	return strings.HasPrefix(text, "curl ") && !writes.MatchString(text)
}

// resolveArgs makes the relative file arguments of a README serve line
// (--config sluice.yaml) name the files of dir.
func resolveArgs(dir string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if _, err := os.Stat(filepath.Join(dir, a)); err == nil && !strings.HasPrefix(a, "-") {
			out[i] = filepath.Join(dir, a)
		}
	}
	return out
}

func TestParseCommands(t *testing.T) {
	t.Parallel()
	block := "X=1   # a note\n# a comment\ncurl -s a \\\n  -d '{}'\n# {\"a\":[1,\n#    2],\"b\":\"}\"}   (a remark)\ncat > f <<'YAML'\nk: v\nYAML\n"
	got := parseCommands(block)
	want := []command{
		{text: "X=1   # a note"},
		{text: "curl -s a \\\n  -d '{}'", sample: `{"a":[1,2],"b":"}"}`},
		{text: "cat > f <<'YAML'\nk: v\nYAML"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, tc := range []struct {
		sample, got string
		ok          bool
	}{
		{`{"a":1,…}`, `{"a":1,"b":2}`, true},
		{`{"a":1,…}`, `{"a":2,"b":2}`, false},
		{`{"id":"…","n":1}`, `{"id":"x.y","n":1}`, true},
		{`{"n":1}`, `{"n":1,"m":2}`, false},
	} {
		if ok := sampleMatches(tc.sample, tc.got); ok != tc.ok {
			t.Errorf("sampleMatches(%s, %s) = %v, want %v", tc.sample, tc.got, ok, tc.ok)
		}
	}
}
