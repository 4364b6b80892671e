package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium; `make test` installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("ENVOI_TEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("chromium not installed (-short)")
	}
	t.Fatal("chromium not found: run `make test` (it installs Debian's chromium) or set ENVOI_TEST_CHROMIUM")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestBrowserSignupAndConfirm fills the signup form in a real browser, follows
// the confirmation mail's link and presses Confirm.
func TestBrowserSignupAndConfirm(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ctx := browser(t)

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// First without ticking consent: the form comes back with the message and the address kept.
	err := chromedp.Do(ctx,
		chromedp.Navigate(ta.URL()+"/subscribe/newsletter"),
		chromedp.WaitVisible(css(`#email`)),
		chromedp.SendKeys(css(`#email`), "browser@example.com"),
		chromedp.SendKeys(css(`#name`), "Bea"),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`#consent-error`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text(css(`#consent-error`)))
	if err != nil || !strings.Contains(errText, "Tick the box") {
		t.Fatalf("consent error = %q, %v", errText, err)
	}
	kept, err := chromedp.Run(ctx, chromedp.Value(css(`#email`)))
	if err != nil || kept != "browser@example.com" {
		t.Fatalf("address not kept: %q, %v", kept, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#consent`)),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your inbox")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}

	confirmURL := link(t, ta.waitMail("browser@example.com", 1)[0], "confirm")
	if err := chromedp.Do(ctx, chromedp.Navigate(confirmURL), chromedp.WaitVisible(css(`#confirm`))); err != nil {
		t.Fatal(err)
	}
	if got := ta.status("browser@example.com"); got != "unconfirmed" {
		t.Fatalf("opening the link changed status to %s", got)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#confirm`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "you are subscribed")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := ta.status("browser@example.com"); got != "confirmed" {
		t.Fatalf("after Confirm status = %s", got)
	}
	if dir := os.Getenv("ENVOI_TEST_SCREENSHOTS"); dir != "" {
		for name, path := range map[string]string{"confirmed": "", "form": "/subscribe/newsletter"} {
			if path != "" {
				chromedp.Do(ctx, chromedp.Navigate(ta.URL()+path))
			}
			if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644)
			}
		}
	}
}
