package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/testutil"
)

const rulesFile = "../docs/prometheus/sluice-rules.yml"

// TestPrometheusRules checks the example rule file with promtool.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := testutil.Tool(t, "promtool")
	if b, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, b)
	}
}

// TestPrometheusRules_MetricsExist checks that every sluice_ metric the
// rules name is one httpapi exports (a histogram's _bucket, _sum and
// _count included).
func TestPrometheusRules_MetricsExist(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	sources, _ := filepath.Glob("../httpapi/*.go")
	defined := regexp.MustCompile(`(?:Name: |NewDesc\()"(sluice_[a-z0-9_]+)"`)
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		code, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range defined.FindAllStringSubmatch(string(code), -1) {
			exported[m[1]] = true
		}
	}
	if len(exported) < 20 {
		t.Fatalf("found only %d metrics in httpapi: %v", len(exported), exported)
	}
	named := regexp.MustCompile(`\bsluice_[a-z0-9_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range named.FindAllString(r.Expr, -1) {
				n++
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(m, suffix); ok && exported[trimmed] {
						base = trimmed
					}
				}
				if !exported[base] {
					t.Errorf("the rules name %s, which httpapi does not export", m)
				}
			}
		}
	}
	if n == 0 {
		t.Error("the rules name no sluice_ metric")
	}
}
