package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	if err := (TLS{CertFile: "c"}).Validate(); err == nil || err.Error() != "tls: cert_file and key_file go together" {
		t.Errorf("a certificate without its key: %v", err)
	}
	pki := testutil.NewPKI(t)
	good := TLS{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := good.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.InsecureSkipVerify {
		t.Errorf("config %+v: want the CA, the client's certificate, verification on", cfg)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		tls  TLS
		want string
	}{
		{"MissingCA", TLS{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "tls.ca_file: open "},
		{"NotPEM", TLS{CAFile: notPEM}, "tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"KeyOfAnother", TLS{CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, "tls.cert_file: "},
	} {
		if _, err := tt.tls.Config(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %s…", tt.name, err, tt.want)
		}
	}
}
