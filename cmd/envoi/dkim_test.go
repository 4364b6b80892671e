package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// TestCampaignDKIM: with ENVOI_DKIM_* set, a campaign message is signed with
// List-Unsubscribe, List-Unsubscribe-Post and Feedback-ID among the signed headers, and the
// signature verifies with an independent implementation (Debian's dkimpy).
func TestCampaignDKIM(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := base64.StdEncoding.EncodeToString(pubDER)

	ta := startApp(t, appOpts{env: map[string]string{
		"ENVOI_DKIM_DOMAIN": "example.com", "ENVOI_DKIM_SELECTOR": "envoi", "ENVOI_DKIM_KEY_FILE": keyFile,
	}})
	key2 := ta.apiKey()
	ta.seed("newsletter", "d", 1, "confirmed")
	id := ta.createCampaign(key2, `{"name":"n","subject":"Signed","lists":["newsletter"],"body":"Hello {{.Subscriber.Name}}"}`)
	ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key2, "")
	ta.waitCampaign(id, "sent", 20*time.Second)
	raw := ta.SMTP.To("d-1@example.com")[0].Raw

	// 1. go-msgauth, with the key given instead of DNS.
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
		return []string{"v=DKIM1; k=rsa; p=" + pub}, nil
	}})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Fatalf("verify: %v %+v", err, verifs)
	}
	signed := strings.ToLower(strings.Join(verifs[0].HeaderKeys, ","))
	for _, h := range []string{"list-unsubscribe", "list-unsubscribe-post", "feedback-id", "from", "subject"} {
		if !strings.Contains(","+signed+",", ","+h+",") {
			t.Errorf("%s not signed (signed: %s)", h, signed)
		}
	}

	// 2. An independent implementation: dkimpy from Debian (installed by `make test`).
	if err := exec.Command("/usr/bin/python3", "-c", "import dkim").Run(); err != nil {
		if testing.Short() {
			t.Skip("python3-dkim not installed")
		}
		t.Fatal("python3-dkim not installed: run `make test` (it installs it)")
	}
	script := `import sys, dkim
pub = sys.argv[1].encode()
msg = sys.stdin.buffer.read()
ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + pub)
print("ok" if ok else "bad")`
	cmd := exec.CommandContext(context.Background(), "/usr/bin/python3", "-c", script, pub)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("dkimpy: %v %s", err, out)
	}
	// Tampering breaks it.
	cmd = exec.Command("/usr/bin/python3", "-c", script, pub)
	cmd.Stdin = bytes.NewReader(bytes.Replace(raw, []byte("Signed"), []byte("Forged"), 1))
	if out, _ := cmd.CombinedOutput(); strings.TrimSpace(string(out)) != "bad" {
		t.Fatalf("dkimpy accepted a tampered message: %s", out)
	}
}
