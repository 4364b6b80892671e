package model

// CampaignLink is one rewritten link of a campaign with its aggregate clicks.
type CampaignLink struct {
	Index  int    `db:"idx" json:"index"`
	URL    string `db:"url" json:"url"`
	Clicks int64  `db:"clicks" json:"clicks"`
}
