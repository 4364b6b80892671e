package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// campaignRow is a campaigns row with its target lists' slugs.
type campaignRow struct {
	model.Campaign
	Lists pq.StringArray `db:"lists"`
}

func (r campaignRow) campaign() model.Campaign {
	c := r.Campaign
	c.Lists = []string(r.Lists)
	if c.Lists == nil {
		c.Lists = []string{}
	}
	return c
}

const campaignColumns = `c.id, c.name, c.subject, c.from_header, c.reply_to, c.format, c.body, c.text_body, c.template, c.click_tracking,
    c.status, c.paused_reason, c.send_at, c.audience_cursor, c.audience_done, c.batches, c.generation, c.created_at, c.started_at, c.finished_at,
    ARRAY(SELECT l.slug FROM campaign_lists cl JOIN lists l ON l.id = cl.list_id WHERE cl.campaign_id = c.id ORDER BY l.slug) AS lists`

// CreateCampaign stores a draft targeting the given lists.
func (s *Store) CreateCampaign(ctx context.Context, c model.Campaign, listIDs []int64) (model.Campaign, error) {
	var id int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &id, `
INSERT INTO campaigns (name, subject, from_header, reply_to, format, body, text_body, template, click_tracking)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			c.Name, c.Subject, c.From, c.ReplyTo, c.Format, c.Body, c.TextBody, c.Template, c.ClickTracking); err != nil {
			return mapErr(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO campaign_lists (campaign_id, list_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, id, pq.Array(listIDs))
		return mapErr(err)
	})
	if err != nil {
		return model.Campaign{}, err
	}
	return s.CampaignByID(ctx, id)
}

// CampaignByID returns a campaign with its counts. Codes: not_found.
func (s *Store) CampaignByID(ctx context.Context, id int64) (model.Campaign, error) {
	c, err := s.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return c, err
	}
	c.Counts, err = s.CampaignCounts(ctx, id)
	return c, err
}

// CampaignWithoutCounts returns a campaign without counting its deliveries (a
// scan of the ledger): what the sending path needs. Codes: not_found.
func (s *Store) CampaignWithoutCounts(ctx context.Context, id int64) (model.Campaign, error) {
	var row campaignRow
	if err := s.DB.GetContext(ctx, &row, `SELECT `+campaignColumns+` FROM campaigns c WHERE c.id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return model.Campaign{}, apperr.New(apperr.NotFound, "There is no campaign with this id.")
		}
		return model.Campaign{}, mapErr(err)
	}
	return row.campaign(), nil
}

// CampaignCounts counts a campaign's deliveries by status (campaignsCounts).
func (s *Store) CampaignCounts(ctx context.Context, id int64) (model.Counts, error) {
	counts, err := s.campaignsCounts(ctx, []int64{id})
	return counts[id], err
}

// campaignsCountsSQL reads the counts kept by finished batches, takes batches
// not yet started as all queued, and counts only the batches being sent from
// the ledger (through its batch index): a few thousand rows whatever the
// audience, for each of several campaigns at once.
const campaignsCountsSQL = `
WITH b AS (SELECT * FROM campaign_batches WHERE campaign_id = ANY($1))
SELECT campaign_id, 'sent' AS status, sum(sent) AS n FROM b WHERE counted GROUP BY 1
UNION ALL SELECT campaign_id, 'failed', sum(failed) FROM b WHERE counted GROUP BY 1
UNION ALL SELECT campaign_id, 'skipped', sum(skipped) FROM b WHERE counted GROUP BY 1
UNION ALL SELECT campaign_id, 'queued', sum(total - sent - failed - skipped) FROM b WHERE counted GROUP BY 1
UNION ALL SELECT campaign_id, 'queued', sum(total) FROM b WHERE NOT counted AND NOT started GROUP BY 1
UNION ALL SELECT b.campaign_id, d.status, count(*) FROM b JOIN deliveries d ON d.campaign_id = b.campaign_id AND d.batch = b.batch
    WHERE NOT b.counted AND b.started GROUP BY 1, 2
UNION ALL SELECT campaign_id, 'opens', opens FROM campaign_stats WHERE campaign_id = ANY($1)
UNION ALL SELECT campaign_id, 'clicks', sum(clicks) FROM campaign_links WHERE campaign_id = ANY($1) GROUP BY 1
UNION ALL SELECT campaign_id, 'bounce:' || CASE WHEN kind = 'soft' THEN 'hard' ELSE kind END, count(DISTINCT subscriber_id)
    FROM bounces WHERE campaign_id = ANY($1) GROUP BY 1, CASE WHEN kind = 'soft' THEN 'hard' ELSE kind END`

// campaignsCounts counts the deliveries of several campaigns by status.
func (s *Store) campaignsCounts(ctx context.Context, ids []int64) (map[int64]model.Counts, error) {
	var rows []struct {
		ID     int64  `db:"campaign_id"`
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.DB.SelectContext(ctx, &rows, campaignsCountsSQL, pq.Array(ids)); err != nil {
		return nil, mapErr(err)
	}
	out := map[int64]model.Counts{}
	for _, r := range rows {
		c := out[r.ID]
		switch r.Status {
		case "opens":
			c.Opens += r.N
			out[r.ID] = c
			continue
		case "clicks":
			c.Clicks += r.N
			out[r.ID] = c
			continue
		case "bounce:hard":
			c.Bounces += r.N
			out[r.ID] = c
			continue
		case "bounce:complaint":
			c.Complaints += r.N
			out[r.ID] = c
			continue
		case "bounce:sender":
			c.SenderRefusals += r.N
			out[r.ID] = c
			continue
		}
		c.Total += r.N
		switch r.Status {
		case "sent":
			c.Sent += r.N
		case "failed":
			c.Failed += r.N
		case "skipped":
			c.Skipped += r.N
		default:
			c.Pending += r.N
		}
		out[r.ID] = c
	}
	return out, nil
}

// TransitionCampaign moves a campaign from one of the from statuses to to and
// returns it. Starting sets started_at; resuming bumps the generation; cancelling
// skips what was not sent. Codes: not_found, conflict (not in a from status).
func (s *Store) TransitionCampaign(ctx context.Context, id int64, from []string, to string, sendAt *time.Time) (model.Campaign, error) {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var status string
		if err := tx.GetContext(ctx, &status, `SELECT status FROM campaigns WHERE id = $1 FOR UPDATE`, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.New(apperr.NotFound, "There is no campaign with this id.")
			}
			return mapErr(err)
		}
		ok := false
		for _, f := range from {
			ok = ok || f == status
		}
		if !ok {
			return &apperr.Error{Code: apperr.Conflict, Message: "The campaign is " + status + "; it cannot become " + to + " from there.", Field: "status"}
		}
		now := s.Now()
		if _, err := tx.ExecContext(ctx, `
UPDATE campaigns SET status = $2, updated_at = $3, send_at = COALESCE($4, send_at),
    paused_reason = CASE WHEN $2 = 'paused' THEN paused_reason ELSE '' END,
    started_at = CASE WHEN $2 = 'sending' THEN COALESCE(started_at, $3) ELSE started_at END,
    generation = generation + CASE WHEN $2 = 'sending' THEN 1 ELSE 0 END,
    finished_at = CASE WHEN $2 = 'cancelled' THEN $3 ELSE finished_at END
WHERE id = $1`, id, to, now, sendAt); err != nil {
			return mapErr(err)
		}
		if to == model.CampaignCancelled {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'skipped', error = 'campaign cancelled', updated_at = $2
WHERE campaign_id = $1 AND status = 'queued'`, id, now); err != nil {
				return mapErr(err)
			}
			// Keep the counts of every batch; one with a message still in flight
			// is counted live until its sender records the outcome.
			if _, err := tx.ExecContext(ctx, `
UPDATE campaign_batches b
SET started = true, counted = c.open = 0, total = c.total, sent = c.sent, failed = c.failed, skipped = c.skipped
FROM (`+countBatchesSQL+`) c
WHERE b.campaign_id = $1 AND c.batch = b.batch AND NOT b.counted`, id, 0); err != nil {
				return mapErr(err)
			}
			_, err := tx.ExecContext(ctx, `UPDATE campaign_batches SET done = true WHERE campaign_id = $1`, id)
			return mapErr(err)
		}
		return nil
	})
	if err != nil {
		return model.Campaign{}, err
	}
	return s.CampaignByID(ctx, id)
}

// CampaignStateByID reads a campaign's status and generation.
func (s *Store) CampaignStateByID(ctx context.Context, id int64) (model.CampaignState, error) {
	var st model.CampaignState
	err := s.DB.GetContext(ctx, &st, `SELECT status, generation FROM campaigns WHERE id = $1`, id)
	return st, mapErr(err)
}

// FinishCampaignIfDone marks a sending campaign sent once its audience is fully
// selected and no delivery is queued or in flight.
func (s *Store) FinishCampaignIfDone(ctx context.Context, id int64) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `
UPDATE campaigns SET status = 'sent', finished_at = $2, updated_at = $2
WHERE id = $1 AND status = 'sending' AND audience_done
  AND NOT EXISTS (SELECT 1 FROM campaign_batches WHERE campaign_id = $1 AND NOT done)`, id, s.Now())
	if err != nil {
		return false, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CampaignsByStatus lists the ids of campaigns in a status (few at a time).
func (s *Store) CampaignsByStatus(ctx context.Context, status string) ([]int64, error) {
	ids := []int64{}
	err := s.DB.SelectContext(ctx, &ids, `SELECT id FROM campaigns WHERE status = $1 ORDER BY id`, status)
	return ids, mapErr(err)
}

// StartDueCampaigns moves scheduled campaigns whose time has come to sending and
// returns their ids.
func (s *Store) StartDueCampaigns(ctx context.Context) ([]int64, error) {
	ids := []int64{}
	err := s.DB.SelectContext(ctx, &ids, `
UPDATE campaigns SET status = 'sending', started_at = COALESCE(started_at, $1), updated_at = $1, generation = generation + 1
WHERE status = 'scheduled' AND send_at <= $1 RETURNING id`, s.Now())
	return ids, mapErr(err)
}

// CampaignListRefs returns a campaign's target lists.
func (s *Store) CampaignListRefs(ctx context.Context, campaignID int64) ([]model.ListRef, error) {
	var ls []model.ListRef
	err := s.DB.SelectContext(ctx, &ls, `SELECT l.id, l.slug, l.name, l.open_tracking FROM campaign_lists cl JOIN lists l ON l.id = cl.list_id WHERE cl.campaign_id = $1 ORDER BY l.id`, campaignID)
	return ls, mapErr(err)
}

// SaveLayout creates or replaces a layout. Codes: invalid.
func (s *Store) SaveLayout(ctx context.Context, name, html string) (model.Layout, error) {
	var l model.Layout
	err := s.DB.GetContext(ctx, &l, `
INSERT INTO layouts (name, html) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET html = EXCLUDED.html, updated_at = now()
RETURNING name, html, created_at, updated_at`, name, html)
	return l, mapErr(err)
}

// LayoutByName returns one layout. Codes: not_found.
func (s *Store) LayoutByName(ctx context.Context, name string) (model.Layout, error) {
	var l model.Layout
	err := s.DB.GetContext(ctx, &l, `SELECT name, html, created_at, updated_at FROM layouts WHERE name = $1`, name)
	return l, mapErr(err)
}

// Layouts lists the layouts by name.
func (s *Store) Layouts(ctx context.Context) ([]model.Layout, error) {
	ls := []model.Layout{}
	err := s.DB.SelectContext(ctx, &ls, `SELECT name, html, created_at, updated_at FROM layouts ORDER BY name`)
	return ls, mapErr(err)
}

// Campaigns returns up to limit campaigns with ids below before (0: from the
// newest), optionally only those with one status, newest first, with their
// counts. Next is the cursor of the following page, 0 after the last.
func (s *Store) Campaigns(ctx context.Context, status string, before int64, limit int) (cs []model.Campaign, next int64, err error) {
	var ids []int64
	if err := s.DB.SelectContext(ctx, &ids, `SELECT id FROM campaigns WHERE ($1 = '' OR status = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`,
		status, before, limit); err != nil {
		return nil, 0, mapErr(err)
	}
	cs = []model.Campaign{}
	if len(ids) == 0 {
		return cs, 0, nil
	}
	// The page in two statements, whatever its length: the rows, then the
	// counts of all of them.
	var rows []campaignRow
	if err := s.DB.SelectContext(ctx, &rows, `SELECT `+campaignColumns+` FROM campaigns c WHERE c.id = ANY($1) ORDER BY c.id DESC`, pq.Array(ids)); err != nil {
		return nil, 0, mapErr(err)
	}
	counts, err := s.campaignsCounts(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range rows {
		c := r.campaign()
		c.Counts = counts[c.ID]
		cs = append(cs, c)
	}
	if len(ids) == limit {
		next = ids[len(ids)-1]
	}
	return cs, next, nil
}

// UpdateCampaign replaces a draft's or scheduled campaign's content and lists.
// Codes: not_found, conflict (sending or done).
func (s *Store) UpdateCampaign(ctx context.Context, c model.Campaign, listIDs []int64) (model.Campaign, error) {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var status string
		if err := tx.GetContext(ctx, &status, `SELECT status FROM campaigns WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.New(apperr.NotFound, "There is no campaign with this id.")
			}
			return mapErr(err)
		}
		if status != model.CampaignDraft && status != model.CampaignScheduled {
			return &apperr.Error{Code: apperr.Conflict, Message: "The campaign is " + status + "; only a draft or a scheduled campaign can be changed.", Field: "status"}
		}
		if _, err := tx.ExecContext(ctx, `
UPDATE campaigns SET name = $2, subject = $3, from_header = $4, reply_to = $5, format = $6, body = $7, text_body = $8, template = $9, updated_at = $10,
    click_tracking = $11
WHERE id = $1`, c.ID, c.Name, c.Subject, c.From, c.ReplyTo, c.Format, c.Body, c.TextBody, c.Template, s.Now(), c.ClickTracking); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM campaign_lists WHERE campaign_id = $1 AND NOT (list_id = ANY ($2::bigint[]))`, c.ID, pq.Array(listIDs)); err != nil {
			return mapErr(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO campaign_lists (campaign_id, list_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, c.ID, pq.Array(listIDs))
		return mapErr(err)
	})
	if err != nil {
		return model.Campaign{}, err
	}
	return s.CampaignByID(ctx, c.ID)
}

// DeleteCampaign deletes a draft. Codes: not_found, conflict (not a draft).
func (s *Store) DeleteCampaign(ctx context.Context, id int64) error {
	var status string
	err := s.DB.GetContext(ctx, &status, `
WITH c AS (SELECT status FROM campaigns WHERE id = $1),
d AS (DELETE FROM campaigns WHERE id = $1 AND status = 'draft')
SELECT status FROM c`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "There is no campaign with this id.")
	}
	if err != nil {
		return mapErr(err)
	}
	if status != model.CampaignDraft {
		return &apperr.Error{Code: apperr.Conflict, Message: "The campaign is " + status + "; only a draft can be deleted (cancel it instead).", Field: "status"}
	}
	return nil
}
