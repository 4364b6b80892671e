package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/model"
)

const importUsage = "usage: envoi import --list SLUG [--consent-text-file F] FILE (- for stdin)\n       envoi import --resume ID"

// importCmd: envoi import --list SLUG [--consent-text-file F] FILE, or
// --resume ID. It reads and stages the file, then imports it in this process,
// showing progress on stderr; the confirmation mails it queues are sent by a
// worker. Interrupted, the import goes on from its last chunk with --resume
// (or by itself in a running worker, within a few minutes).
func importCmd(ctx context.Context, a *App, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.String("list", "", "slug of the list to import into (required)")
	textFile := fs.String("consent-text-file", "", "file holding the consent text these people agreed to, for rows with consented_at and consent_source but no consent_text_version")
	resume := fs.Int64("resume", 0, "go on with an interrupted import")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*resume == 0) == (*list == "" || fs.NArg() != 1) || (*resume != 0 && fs.NArg() != 0) {
		fmt.Fprintln(stderr, importUsage)
		return 2
	}
	var text string
	if *textFile != "" {
		b, err := os.ReadFile(*textFile)
		if err != nil {
			fmt.Fprintln(stderr, "envoi:", err)
			return 1
		}
		text = string(b)
	}
	var in io.Reader = stdin
	if *resume == 0 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "envoi:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	code := 0
	rc := withApp(ctx, a, stderr, func(a *App) error {
		id := *resume
		if id == 0 {
			started := time.Now()
			im, err := a.Imports.Stage(ctx, imports.Request{List: *list, Source: imports.SourceCLI, ConsentText: text}, in)
			if err != nil {
				return err
			}
			id = im.ID
			fmt.Fprintf(stderr, "import %d: %d rows read, %d staged, %d bad, in %.1f s\n", id, im.RowsRead, im.Staged, im.BadRows, time.Since(started).Seconds())
		}
		last := time.Time{}
		_, err := a.Imports.Run(ctx, id, func(im model.Import) {
			if time.Since(last) >= time.Second {
				last = time.Now()
				fmt.Fprintf(stderr, "import %d: %d of %d staged rows done\n", im.ID, im.Processed, im.Staged)
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("import %d interrupted; go on with `envoi import --resume %d` (a running worker also takes it up within minutes)", id, id)
			}
			return err
		}
		st, err := a.Imports.Import(ctx, id)
		if err != nil {
			return err
		}
		printImport(stdout, st)
		if st.State != model.ImportDone {
			code = 1
		}
		return nil
	}, OpenOptions{MaxConns: 2 + imports.DefaultWorkers}) // staging reads consent texts beside its COPY; the chunks run side by side
	if rc != 0 {
		return rc
	}
	return code
}

func printImport(w io.Writer, st imports.Status) {
	im := st.Import
	fmt.Fprintf(w, "import %d into %q: %s%s\n", im.ID, im.ListSlug, im.State, map[bool]string{true: " (" + im.Error + ")"}[im.Error != ""])
	fmt.Fprintf(w, "rows read: %d\n", im.RowsRead)
	fmt.Fprintf(w, "confirmed with proof of consent: %d\n", im.ConfirmedWithProof)
	fmt.Fprintf(w, "asked to confirm: %d (confirmation mails queued: %d)\n", im.AwaitingConfirmation, im.RepermissionQueued)
	fmt.Fprintf(w, "already confirmed: %d\n", im.AlreadyConfirmed)
	fmt.Fprintf(w, "unsubscribed, left so: %d\n", im.KeptUnsubscribed)
	fmt.Fprintf(w, "skipped as suppressed: %d\n", im.Suppressed)
	fmt.Fprintf(w, "bad rows: %d\n", im.BadRows)
	fmt.Fprintf(w, "duplicates: %d\n", im.Duplicates)
	for _, e := range st.Errors {
		fmt.Fprintf(w, "line %d: %s\n", e.Line, e.Reason)
	}
	if n := im.BadRows + im.Duplicates - int64(len(st.Errors)); n > 0 {
		fmt.Fprintf(w, "(%d more error lines not kept)\n", n)
	}
}
