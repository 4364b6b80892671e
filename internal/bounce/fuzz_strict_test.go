package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseStrict(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.eml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	files = append(files, more...)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Parse(bytes.NewReader(data))
		if err != nil && evs != nil {
			t.Fatalf("events with an error: %v", err)
		}
		if len(evs) > maxRecipients {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if len(ev.Diagnostic) > 200 || strings.Contains(ev.Diagnostic, "@") {
				t.Fatalf("Diagnostic %q", ev.Diagnostic)
			}
			if ev.Kind < Hard || ev.Kind > Complaint {
				t.Fatalf("Kind %v", ev.Kind)
			}
			if ev.Recipient != strings.ToLower(ev.Recipient) {
				t.Fatalf("Recipient %q not lower case", ev.Recipient)
			}
		}
	})
}

func FuzzClassifyStrict(f *testing.F) {
	f.Add(550, "5.1.1", "User unknown")
	f.Add(0, "", "554 delivery error: dd This user doesn't have a yahoo.com account")
	f.Add(452, "4.2.2", "over quota")
	f.Add(0, "", "550 5.7.26 DMARC policy")
	f.Add(0, "", "host [10.4.4.1]")
	f.Fuzz(func(t *testing.T, code int, status, text string) {
		k := Classify(code, status, text)
		if k != Hard && k != Soft && k != Sender {
			t.Fatalf("Classify(%d, %q, %q) = %v", code, status, text, k)
		}
		if s := FindStatus(text); s != "" && !strings.Contains(text, s) {
			t.Fatalf("FindStatus(%q) = %q", text, s)
		}
		r := Redact(text)
		if len(r) > 200 || strings.Contains(r, "@") {
			t.Fatalf("Redact(%q) = %q", text, r)
		}
	})
}
