package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestLayering holds the one-way structure of README "Layout" (and
// architecture.json) against the code: each rule names packages (prefixes of
// their paths under internal/) that must not import others. Test files are
// left out: they may reach across layers to check them.
func TestLayering(t *testing.T) {
	const mod = "github.com/envoi/envoi/"
	domain := []string{"internal/subscribe", "internal/lists", "internal/campaign", "internal/delivery", "internal/auth", "internal/gdpr", "internal/imports", "internal/tracking", "internal/feedback"}
	rules := []struct {
		name  string
		from  []string
		never []string
	}{
		{"HandlersCallServices", []string{"internal/web"}, []string{"internal/store"}},
		{"JobsCallDelivery", []string{"internal/jobs"}, []string{"internal/store"}},
		{"StoreCallsNoService", []string{"internal/store"}, append(domain, "internal/web", "internal/jobs")},
		{"DomainKnowsNoHTTP", domain, []string{"github.com/gin-gonic/gin", "internal/web", "internal/jobs"}},
		{"DomainRunsNoQueueServer", domain, []string{"github.com/hibiken/asynq"}},
		{"AuthoringDoesNotSend", []string{"internal/campaign", "internal/subscribe", "internal/lists"}, []string{"internal/delivery", "internal/send"}},
		{"MailSendTokenKeepNoLedger", []string{"internal/mail", "internal/send", "internal/token"}, []string{"internal/store"}},
		{"ModelImportsNothingOfOurs", []string{"internal/model", "internal/apperr"}, []string{"internal"}},
		{"ConfigOnlyOnBase", []string{"internal/config", "internal/address"}, append(domain, "internal/store", "internal/web", "internal/jobs", "internal/send", "internal/mail")},
	}
	imports := map[string][]string{} // package dir (internal/…) -> imports, module prefix cut
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			imports[rel] = append(imports[rel], strings.TrimPrefix(p, mod))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 10 {
		t.Fatalf("read %d packages: the walk went wrong", len(imports))
	}
	under := func(p, prefix string) bool {
		return p == prefix || strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/")
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for pkg, ims := range imports {
				if !slices.ContainsFunc(r.from, func(f string) bool { return under(pkg, f) }) {
					continue
				}
				for _, im := range ims {
					for _, n := range r.never {
						if under(im, n) {
							t.Errorf("%s imports %s", pkg, im)
						}
					}
				}
			}
		})
	}
}
