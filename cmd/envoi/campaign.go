package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/model"
)

const campaignUsage = "usage: envoi campaign send ID [--at 2026-12-01T09:00:00Z | --now] [--no-wait]\n       envoi campaign watch ID"

// campaignCmd: envoi campaign send ID [--at RFC3339] [--no-wait], envoi campaign watch ID
func campaignCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || (args[0] != "send" && args[0] != "watch") {
		fmt.Fprintln(stderr, campaignUsage)
		return 2
	}
	id, ok := parseID(args[1], "a campaign id", stderr)
	if !ok {
		return 2
	}
	if args[0] == "watch" {
		// Shows progress and changes nothing.
		if len(args) > 2 {
			fmt.Fprintln(stderr, campaignUsage)
			return 2
		}
		defer a.Close()
		if err := a.Open(ctx, OpenOptions{MaxConns: 2}); err != nil {
			fmt.Fprintln(stderr, "envoi:", err)
			return 1
		}
		c, err := a.Campaigns.Campaign(ctx, id)
		if err != nil {
			if e, ok := apperr.As(err); ok {
				err = errors.New(e.Message)
			}
			fmt.Fprintln(stderr, "envoi:", err)
			return 1
		}
		switch c.Status {
		case model.CampaignDraft:
			fmt.Fprintf(stdout, "campaign %d is a draft: nothing to watch yet\n", id)
			return 0
		case model.CampaignScheduled:
			fmt.Fprintf(stdout, "campaign %d is scheduled for %s\n", id, c.SendAt.Format(time.RFC3339))
			return 0
		}
		return watchCampaign(ctx, a.Campaigns, id, stdout, stderr)
	}
	fs := flag.NewFlagSet("campaign send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	at := fs.String("at", "", "send at this time (RFC 3339) instead of now")
	noWait := fs.Bool("no-wait", false, "return once queued instead of showing progress")
	now := fs.Bool("now", false, "start a scheduled campaign now instead of at its time")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	var when *time.Time
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintln(stderr, "envoi: --at must be RFC 3339, like 2026-12-01T09:00:00Z")
			return 2
		}
		when = &t
	}
	defer a.Close()
	if err := a.Open(ctx, OpenOptions{MaxConns: 2}); err != nil {
		fmt.Fprintln(stderr, "envoi:", err)
		return 1
	}
	// A scheduled campaign keeps its time unless --now or --at says otherwise.
	if when == nil && !*now {
		cur, err := a.Campaigns.Campaign(ctx, id)
		if err == nil && cur.Status == model.CampaignScheduled {
			fmt.Fprintf(stdout, "campaign %d is scheduled for %s and starts then; use --now to start it now\n", id, cur.SendAt.Format(time.RFC3339))
			if *noWait {
				return 0
			}
			return watchCampaign(ctx, a.Campaigns, id, stdout, stderr)
		}
	}
	c, err := a.Campaigns.Send(ctx, id, when)
	if err != nil {
		if e, ok := apperr.As(err); ok {
			fmt.Fprintln(stderr, "envoi:", e.Message)
		} else {
			fmt.Fprintln(stderr, "envoi:", err)
		}
		return 1
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(stderr, "envoi: warning:", w)
	}
	if c.Status == model.CampaignScheduled {
		fmt.Fprintf(stdout, "campaign %d scheduled for %s\n", id, c.SendAt.Format(time.RFC3339))
		return 0
	}
	fmt.Fprintf(stderr, "campaign %d sending (a running `envoi worker` or `envoi serve` does the work)\n", id)
	if *noWait {
		return 0
	}
	return watchCampaign(ctx, a.Campaigns, id, stdout, stderr)
}

// watchCampaign draws a progress bar with rate and ETA until the campaign ends.
func watchCampaign(ctx context.Context, campaigns *campaign.Service, id int64, stdout, stderr io.Writer) int {
	start := time.Now()
	var firstDone int64 = -1
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := campaigns.Campaign(ctx, id)
		if err != nil {
			fmt.Fprintln(stderr, "\nenvoi:", err)
			return 1
		}
		n := c.Counts
		done := n.Sent + n.Failed + n.Skipped
		if firstDone < 0 {
			firstDone = done
		}
		elapsed := time.Since(start)
		rate := float64(done-firstDone) / elapsed.Seconds()
		eta := "?"
		if rate > 0 && n.Total > done {
			eta = (time.Duration(float64(n.Total-done)/rate) * time.Second).Round(time.Second).String()
		}
		pct := 0.0
		if n.Total > 0 {
			pct = float64(done) / float64(n.Total)
		}
		const width = 30
		bar := strings.Repeat("#", int(pct*width)) + strings.Repeat(".", width-int(pct*width))
		fmt.Fprintf(stderr, "\r[%s] %3.0f%% %d/%d sent %d failed %d skipped %d  %.0f msg/s  ETA %s   ",
			bar, pct*100, done, n.Total, n.Sent, n.Failed, n.Skipped, rate, eta)
		switch c.Status {
		case model.CampaignSent, model.CampaignCancelled, model.CampaignPaused:
			fmt.Fprintln(stderr)
			fmt.Fprintf(stdout, "campaign %d %s: %d sent, %d failed, %d skipped of %d in %s\n",
				id, c.Status, n.Sent, n.Failed, n.Skipped, n.Total, elapsed.Round(100*time.Millisecond))
			return 0
		}
		// Counts come from per-batch counts (a few ms at 1,000,000 recipients): poll often.
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "\nstopped watching; the campaign goes on")
			return 0
		case <-tick.C:
		}
	}
}
