package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const key = "0123456789abcdef0123456789abcdef"

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"ENVOI_SECRET_KEY": key}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:8080" || c.SMTP.Port != 1025 || c.SMTP.TLS != "none" || c.FromAddress != "newsletter@envoi.localhost" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.ConfirmTTL.Hours() != 168 {
		t.Fatalf("ConfirmTTL = %v", c.ConfirmTTL)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"ErrSecretMissing", map[string]string{}, []string{"ENVOI_SECRET_KEY: is required"}},
		{"ErrSecretShort", map[string]string{"ENVOI_SECRET_KEY": "short"}, []string{"ENVOI_SECRET_KEY: must be at least 32 bytes"}},
		{"ErrAllAtOnce", map[string]string{
			"ENVOI_SECRET_KEY":   key,
			"ENVOI_DATABASE_URL": "mysql://x",
			"ENVOI_REDIS_URL":    "http://x",
			"ENVOI_SMTP_URL":     "smtp://h:25?tls=maybe",
			"ENVOI_BASE_URL":     "example.com",
			"ENVOI_LISTEN_ADDR":  "8080",
			"ENVOI_FROM":         "nobody",
		}, []string{"ENVOI_DATABASE_URL:", "ENVOI_REDIS_URL:", "ENVOI_SMTP_URL: tls must be", "ENVOI_BASE_URL:", "ENVOI_LISTEN_ADDR:", "ENVOI_FROM:"}},
		{"ErrSecretFileMissing", map[string]string{"ENVOI_SECRET_KEY_FILE": "/nonexistent/key"}, []string{"ENVOI_SECRET_KEY_FILE: cannot read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"ENVOI_SECRET_KEY_FILE": f}))
	if err != nil || c.SecretKey != key {
		t.Fatalf("Load = %q, %v", c.SecretKey, err)
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		in   string
		want SMTP
		ok   bool
	}{
		{"smtp://u:p%40ss@mail.example.com:587?tls=starttls", SMTP{"mail.example.com", 587, "u", "p@ss", "starttls"}, true},
		{"smtp://mail.example.com?tls=tls", SMTP{"mail.example.com", 465, "", "", "tls"}, true},
		{"smtp://127.0.0.1:1025?tls=none", SMTP{"127.0.0.1", 1025, "", "", "none"}, true},
		{"http://x", SMTP{}, false},
		{"smtp://h:99999", SMTP{}, false},
	}
	for _, tt := range tests {
		got, err := ParseSMTPURL(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	e := env(map[string]string{"ENVOI_SECRET_KEY": key, "ENVOI_SMTP_URL": "smtp://u:hunter2@h:25?tls=none"})
	c, _ := Load(e)
	out := strings.Join(c.Masked(e), "\n")
	if strings.Contains(out, key) || strings.Contains(out, "hunter2") {
		t.Fatalf("secret shown:\n%s", out)
	}
}

// TestREADMEListsEveryOption keeps the README's configuration table complete.
func TestREADMEListsEveryOption(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options {
		if !strings.Contains(string(b), "| `"+o.Name+"` |") {
			t.Errorf("README.md configuration table lacks %s", o.Name)
		}
	}
}
