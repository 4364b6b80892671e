package gdpr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

// Controller is what the register says about the organisation and the
// installation, from the settings.
type Controller struct {
	Organization, Contact, PostalAddress string
	BaseURL                              string
	SMTPHost, SMTPTLS                    string
	DKIM                                 bool
	Retention                            store.Retention
}

// Register is the record of processing activities (GDPR art. 30(1)),
// generated from the settings and the lists.
type Register struct {
	GeneratedAt time.Time          `json:"generated_at"`
	Controller  RegisterController `json:"controller"`
	Activities  []Activity         `json:"activities"`
	Security    []string           `json:"security_measures"`
}

// RegisterController is art. 30(1)(a).
type RegisterController struct {
	Name          string `json:"name"`
	Contact       string `json:"contact"`
	PostalAddress string `json:"postal_address"`
}

// Activity is one processing activity (art. 30(1)(b)–(f)).
type Activity struct {
	Name           string   `json:"name"`
	Purpose        string   `json:"purpose"`
	LegalBasis     string   `json:"legal_basis"`
	DataSubjects   string   `json:"data_subjects"`
	DataCategories []string `json:"data_categories"`
	Recipients     []string `json:"recipients"`
	Transfers      string   `json:"transfers_outside_eu"`
	Retention      []string `json:"retention"`
	Subscribers    *int64   `json:"subscribers,omitempty"` // confirmed, for a list
}

func days(d time.Duration) string {
	if d <= 0 {
		return "no time limit set"
	}
	if d >= 365*24*time.Hour && d%(365*24*time.Hour) == 0 {
		return fmt.Sprintf("%d years", d/(365*24*time.Hour))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// Register builds the record of processing activities from the settings
// (Service.Controller) and the lists (with their confirmed subscribers).
func (s *Service) Register(ctx context.Context) (Register, error) {
	c := s.Controller
	ls, err := s.Store.Lists(ctx)
	if err != nil {
		return Register{}, err
	}
	stats, err := s.Store.ListStats(ctx)
	if err != nil {
		return Register{}, err
	}
	confirmed := map[string]int64{}
	for _, st := range stats {
		confirmed[st.Slug] = st.Confirmed
	}
	relay := "the mail relay " + c.SMTPHost + " (processor: sends the messages; TLS " + c.SMTPTLS + ")"
	transfers := "None by Envoi itself. Check where the mail relay (" + c.SMTPHost + ") and the servers of this installation process data; outside the EU/EEA, name the safeguard (art. 46)."
	p := c.Retention
	keep := []string{
		"unconfirmed signups: erased after " + days(p.Unconfirmed),
		"subscribers without a sign of life for " + days(p.Inactive) + ": asked again, erased " + days(p.Grace) + " later without an answer",
		"people who left every list: reduced to a keyed hash on the suppression list after " + days(p.Unsubscribed),
		"proof of consent of people gone: " + days(p.ConsentProof),
	}
	r := Register{GeneratedAt: s.Store.Now().UTC(), Controller: RegisterController{Name: c.Organization, Contact: c.Contact, PostalAddress: c.PostalAddress}}
	for _, l := range ls {
		n := confirmed[l.Slug]
		r.Activities = append(r.Activities, Activity{
			Name:         "Newsletter “" + l.Name + "” (" + l.Slug + ")",
			Purpose:      "Sending “" + l.Name + "” by email to the people who asked for it" + describe(l),
			LegalBasis:   "Consent (art. 6(1)(a)), given by double opt-in and recorded",
			DataSubjects: "Subscribers of the list",
			DataCategories: []string{"email address", "name (optional)", "subscription status and dates",
				"consent record: time, IP address, browser user agent, the text shown", "campaigns sent and their delivery status",
				"date of the last sign of life (confirmation, click, preference change)"},
			Recipients:  []string{"the organisation's staff with an admin account (roles: owner, editor, viewer)", relay},
			Transfers:   transfers,
			Retention:   keep,
			Subscribers: &n,
		})
	}
	r.Activities = append(r.Activities, Activity{
		Name:         "Proof of consent and of the rights exercised",
		Purpose:      "Proving consent, unsubscriptions, erasures and objections (art. 7(1)); never mailing an erased or objecting address by accident",
		LegalBasis:   "Legal obligation (art. 6(1)(c)) and legitimate interest (art. 6(1)(f)) in proving compliance",
		DataSubjects: "Present and former subscribers",
		DataCategories: []string{"consent events (time, source, list, text version)", "IP address and user agent until erasure",
			"keyed hashes (HMAC-SHA-256) of the address, IP and user agent"},
		Recipients: []string{"the organisation's owners and editors"},
		Transfers:  transfers,
		Retention:  []string{"consent events of people gone: " + days(p.ConsentProof), "the suppression list: as long as the installation (a keyed hash, no address)"},
	})
	r.Activities = append(r.Activities, Activity{
		Name:           "Admin accounts and audit log",
		Purpose:        "Controlling who may see and change subscriber data, and recording who did",
		LegalBasis:     "Legal obligation of security (art. 32) and legitimate interest",
		DataSubjects:   "The organisation's staff",
		DataCategories: []string{"email address", "password hash (argon2id)", "two-factor secret", "audit log: action, time, IP address"},
		Recipients:     []string{"the organisation's owners"},
		Transfers:      transfers,
		Retention:      []string{"while the account exists; the audit log's entries keep the address after an account is removed"},
	})
	r.Security = []string{
		"passwords hashed with argon2id; optional TOTP two-factor sign-in; failed sign-ins limited",
		"roles on every admin route; every admin change, export, restriction and erasure in the audit log",
		"sessions in PostgreSQL, cookies HttpOnly, SameSite, Secure on https; cross-site requests refused",
		"signed, purpose-bound links (HMAC-SHA-256); a GET never changes a subscriber",
		"no personal data in logs, Redis or error text; erasure is complete",
		"a tamper-evident, hash-chained consent log",
	}
	if c.DKIM {
		r.Security = append(r.Security, "every message DKIM-signed")
	}
	return r, nil
}

func describe(l model.List) string {
	if l.Description == "" {
		return ""
	}
	return ": " + l.Description
}

// registerDoc is the standalone HTML document of the register.
var registerDoc *template.Template

// ParseRegisterTemplates reads the register's HTML templates (templates.FS).
func ParseRegisterTemplates(fsys fs.FS) error {
	t, err := template.ParseFS(fsys, "gdpr/register.html.tmpl", "admin/partial_register.html.tmpl")
	if err == nil {
		registerDoc = t
	}
	return err
}

// EncodeRegister writes the register as a download: json, or html (a
// standalone document).
func EncodeRegister(format string, r Register) model.File {
	f := model.File{Name: "envoi-register." + format}
	var b bytes.Buffer
	switch format {
	case FormatJSON:
		f.ContentType = "application/json; charset=utf-8"
		e := json.NewEncoder(&b)
		e.SetIndent("", "  ")
		f.Err = e.Encode(r)
	case "html":
		f.ContentType = "text/html; charset=utf-8"
		if registerDoc == nil {
			f.Err = fmt.Errorf("register templates not parsed")
		} else {
			f.Err = registerDoc.ExecuteTemplate(&b, "register.html.tmpl", r)
		}
	default:
		f.Err = apperr.FieldError("format", "The format is json or html.")
	}
	f.Body = b.Bytes()
	return f
}
