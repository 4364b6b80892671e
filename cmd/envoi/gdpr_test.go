package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/token"
)

var gdprActor = gdpr.Actor{Who: "tests", Source: "admin"}

// pgDump returns a plain-SQL dump of the test's database.
func (ta *testApp) pgDump() string {
	ta.t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			ta.t.Fatal("pg_dump not found (Debian package postgresql-client)")
		}
		bin = found[len(found)-1]
	}
	out, err := exec.Command(bin, "--no-owner", "--data-only", ta.Config.DatabaseURL).Output()
	if err != nil {
		ta.t.Fatalf("pg_dump: %v", err)
	}
	if !strings.Contains(string(out), "COPY public.consent_log") {
		ta.t.Fatalf("pg_dump wrote no consent_log: %.300s", out)
	}
	return string(out)
}

// redisValues returns every value of every key in the test Redis (strings,
// hashes, lists, sets, sorted sets, streams), with the keys.
func (ta *testApp) redisValues() string {
	ta.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := ta.Redis.Scan(ctx, 0, "*", 1000).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		b.WriteString(k + "\n")
		switch ta.Redis.Type(ctx, k).Val() {
		case "string":
			b.WriteString(ta.Redis.Get(ctx, k).Val())
		case "hash":
			for f, v := range ta.Redis.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "list":
			b.WriteString(strings.Join(ta.Redis.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			b.WriteString(strings.Join(ta.Redis.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(ta.Redis.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range ta.Redis.XRange(ctx, k, "-", "+").Val() {
				fmt.Fprint(&b, m.Values)
			}
		}
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		ta.t.Fatal(err)
	}
	if n == 0 {
		ta.t.Fatal("Redis holds no key at all: the scan went wrong")
	}
	return b.String()
}

func (ta *testApp) consentVerify() (int, string) {
	ta.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"consent", "verify"}, &out, &errb, func(k string) string { return ta.Env[k] })
	return code, out.String() + errb.String()
}

// TestErasure: a subscriber who signed up, confirmed and got a campaign
// erases themselves from the preferences link in that campaign. Afterwards a
// pg_dump of the database and every value in Redis hold neither their address
// nor their name; the consent log keeps its events (no IP, no user agent, the
// keyed hash of the address) and its chain verifies; the hash is on the
// suppression list; the next campaign does not reach them; signing up again
// works only through a fresh double opt-in.
func TestErasure(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	suffix := fmt.Sprint(time.Now().UnixNano())
	addr, name := "erase-me-"+suffix+"@example.com", "Zebulon Quartermaine"+suffix
	ta.seed("newsletter", "stays", 2, "confirmed")
	res := ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded",
		url.Values{"email": {addr}, "name": {name}, "consent": {"yes"}}.Encode(), "User-Agent", "ErasureTest/1.0")
	if res.Status != 200 {
		t.Fatalf("signup: %d", res.Status)
	}
	ta.do("POST", link(t, ta.waitMail(addr, 1)[0], "confirm"), "", "", "User-Agent", "ErasureTest/1.0")
	camp := ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	ta.waitMessagesDone(10 * time.Second)
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, addr)
	var prefs string
	for _, m := range ta.SMTP.To(addr) {
		if strings.Contains(m.Part("text/plain"), "/preferences/") {
			prefs = link(t, m, "preferences")
		}
	}
	if prefs == "" {
		t.Fatal("the campaign mail has no preferences link")
	}
	if !strings.Contains(ta.pgDump(), addr) {
		t.Fatal("the dump does not hold the address before the erasure: the check below would prove nothing")
	}

	events := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1`, id)
	if p := ta.get(strings.TrimPrefix(prefs, ta.URL())); p.Status != 200 || !strings.Contains(p.Body, addr) || !strings.Contains(p.Body, "The Weekly Letter") {
		t.Fatalf("preferences page: %d %.300s", p.Status, p.Body)
	}
	if r := ta.postForm(strings.TrimPrefix(prefs, ta.URL())+"/erase", url.Values{}); r.Status != 422 || ta.count(`SELECT count(*) FROM subscribers WHERE id = $1`, id) != 1 {
		t.Fatalf("erase without the confirming box: %d", r.Status)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1`, id); n != events {
		t.Fatalf("a GET or an unconfirmed POST logged %d events", n-events)
	}
	if r := ta.postForm(strings.TrimPrefix(prefs, ta.URL())+"/erase", url.Values{"confirm": {"yes"}}); r.Status != 200 || !strings.Contains(r.Body, "erased") {
		t.Fatalf("erase: %d %.300s", r.Status, r.Body)
	}

	if n := ta.count(`SELECT count(*) FROM subscribers WHERE id = $1 OR lower(email) = $2`, id, addr); n != 0 {
		t.Fatalf("%d subscriber rows left", n)
	}
	for _, q := range []string{`SELECT count(*) FROM subscriptions WHERE subscriber_id = $1`, `SELECT count(*) FROM deliveries WHERE subscriber_id = $1`} {
		if n := ta.count(q, id); n != 0 {
			t.Fatalf("%s: %d", q, n)
		}
	}
	hash := ta.Store.Pseudo.Email(addr)
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1 AND ip IS NULL AND user_agent = '' AND email_hash = $2`, id, hash); n != events+1 {
		t.Fatalf("%d consent events kept clean with the hash, want %d (the %d before and the erasure)", n, events+1, events)
	}
	if acts := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1 AND action = 'erase' AND source = 'preferences'`, id); acts != 1 {
		t.Fatalf("%d erase events", acts)
	}
	if n := ta.count(`SELECT count(*) FROM suppressions WHERE email_hash = $1 AND reason = 'erased'`, hash); n != 1 {
		t.Fatal("the address's hash is not on the suppression list")
	}
	if code, out := ta.consentVerify(); code != 0 || !strings.Contains(out, "consent log: ok") {
		t.Fatalf("consent verify after the erasure: %d %s", code, out)
	}
	dump := strings.ToLower(ta.pgDump())
	for _, v := range []string{addr, strings.ToLower(name)} {
		if strings.Contains(dump, v) {
			i := strings.Index(dump, v)
			t.Fatalf("pg_dump still holds %q: …%s…", v, dump[max(0, i-200):i+len(v)])
		}
	}
	if !strings.Contains(dump, "stays-1@example.com") {
		t.Fatal("the dump lost the other subscribers")
	}
	rv := strings.ToLower(ta.redisValues())
	for _, v := range []string{addr, strings.ToLower(name)} {
		if strings.Contains(rv, v) {
			t.Fatalf("Redis still holds %q", v)
		}
	}
	if p := ta.get(strings.TrimPrefix(prefs, ta.URL())); p.Status != 404 || !strings.Contains(p.Body, "erased") {
		t.Fatalf("preferences after the erasure: %d", p.Status)
	}

	// The next campaign reaches the others, not them.
	before := len(ta.SMTP.To(addr))
	camp = ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	if c := ta.campaign(camp); c.Counts.Sent != 2 {
		t.Fatalf("second campaign: %+v", c.Counts)
	}
	if len(ta.SMTP.To(addr)) != before {
		t.Fatal("the erased address got the next campaign")
	}

	// Signing up again: suppressed until a fresh confirmation, then a subscriber again.
	ta.Clock.Advance(time.Minute)
	ta.signup(addr)
	var suppressed bool
	ta.Store.DB.Get(&suppressed, `SELECT suppressed_at IS NOT NULL FROM subscribers WHERE email = $1`, addr)
	if !suppressed {
		t.Fatal("a returning erased address is not suppressed before it confirms")
	}
	ta.do("POST", link(t, ta.waitMail(addr, before+1)[before], "confirm"), "", "")
	ta.Store.DB.Get(&suppressed, `SELECT suppressed_at IS NOT NULL FROM subscribers WHERE email = $1`, addr)
	if suppressed || ta.count(`SELECT count(*) FROM suppressions WHERE email_hash = $1`, hash) != 0 {
		t.Fatal("a fresh confirmed opt-in did not lift the suppression")
	}
	if ta.status(addr) != "confirmed" {
		t.Fatalf("after the fresh opt-in: %s", ta.status(addr))
	}
}

// TestConsentChain: the consent log refuses UPDATE, DELETE and TRUNCATE; the
// erasure path may only clear the clear personal values; envoi consent verify
// passes on an intact log and names the first event altered, removed or
// inserted behind the triggers' back.
func TestConsentChain(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	for i := range 4 {
		ta.signup(fmt.Sprintf("chain-%d@example.com", i))
	}
	ta.do("POST", link(t, ta.waitMail("chain-0@example.com", 1)[0], "confirm"), "", "")
	ta.do("POST", link(t, ta.waitMail("chain-0@example.com", 2)[1], "unsubscribe"), "", "")
	ta.waitMessagesDone(10 * time.Second)
	total := ta.count(`SELECT count(*) FROM consent_log`)
	if total < 6 {
		t.Fatalf("%d events", total)
	}
	if code, out := ta.consentVerify(); code != 0 || !strings.Contains(out, fmt.Sprintf("ok, %d events", total)) {
		t.Fatalf("verify: %d %s", code, out)
	}
	db := ta.Store.DB
	for _, q := range []string{
		`UPDATE consent_log SET action = 'confirm' WHERE action = 'signup'`,
		`DELETE FROM consent_log WHERE id = (SELECT min(id) FROM consent_log)`,
		`TRUNCATE consent_log`,
		// The erasure's switch allows clearing ip and user_agent, nothing else.
		`BEGIN; SET LOCAL envoi.erasure = 'on'; UPDATE consent_log SET ip = NULL, user_agent = '', source = 'api'; COMMIT`,
	} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			db.Exec(`ROLLBACK`)
			t.Fatalf("%s: %v", q, err)
		}
		db.Exec(`ROLLBACK`)
	}
	if _, err := db.Exec(`BEGIN; SET LOCAL envoi.erasure = 'on'; UPDATE consent_log SET ip = NULL, user_agent = ''; COMMIT`); err != nil {
		t.Fatalf("the erasure's update: %v", err)
	}
	if code, out := ta.consentVerify(); code != 0 {
		t.Fatalf("verify after clearing the clear values: %d %s", code, out)
	}

	var ids []int64
	db.Select(&ids, `SELECT id FROM consent_log ORDER BY seq`)
	tamper := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(`ALTER TABLE consent_log DISABLE TRIGGER USER`); err != nil {
			t.Fatal(err)
		}
		defer db.Exec(`ALTER TABLE consent_log ENABLE TRIGGER USER`)
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cases := []struct {
		name, sql, undo string
		want            string
	}{
		{"altered", `UPDATE consent_log SET source = 'api' WHERE id = $1`, `UPDATE consent_log SET source = 'form' WHERE id = $1`,
			fmt.Sprintf("event %d (seq 3) was altered", ids[2])},
		{"time altered", `UPDATE consent_log SET created_at = created_at - interval '1 day' WHERE id = $1`, `UPDATE consent_log SET created_at = created_at + interval '1 day' WHERE id = $1`,
			fmt.Sprintf("event %d (seq 3) was altered", ids[2])},
		{"removed", `DELETE FROM consent_log WHERE id = $1`, ``, "the event at seq 3 was removed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tamper(c.sql, ids[2])
			code, out := ta.consentVerify()
			if code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, c.want) {
				t.Fatalf("verify: %d %s, want %q", code, out, c.want)
			}
			if c.undo != "" {
				tamper(c.undo, ids[2])
				if code, out := ta.consentVerify(); code != 0 {
					t.Fatalf("after undoing: %d %s", code, out)
				}
			}
		})
	}
	// An event slipped in with a made-up place in the chain.
	tamper(`INSERT INTO consent_log (subscriber_id, list_id, action, source, seq, prev_hash, hash) VALUES (1, 1, 'confirm', 'link', 0, '\x00', '\x00')`)
	if code, out := ta.consentVerify(); code != 1 || !strings.Contains(out, "inserted") {
		t.Fatalf("insert: %d %s", code, out)
	}
}

// TestPreferences: the signed preferences link shows the person's lists and
// changes nothing; its POST corrects the name and leaves the unticked lists
// (logged with source preferences); the exports hold the profile, the
// subscriptions, the consent record with its texts and the campaigns, as JSON
// and CSV; a tampered link changes nothing.
func TestPreferences(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if _, err := ta.Lists.Create(context.Background(), lists.New{Slug: "offers", Name: "Offers"}); err != nil {
		t.Fatal(err)
	}
	const addr = "prefs@example.com"
	for _, l := range []string{"newsletter", "offers"} {
		ta.postForm("/subscribe/"+l, url.Values{"email": {addr}, "name": {"Ann"}, "consent": {"yes"}})
	}
	for _, m := range ta.waitMail(addr, 2) {
		ta.do("POST", link(t, m, "confirm"), "", "")
	}
	camp := ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	ta.waitMessagesDone(10 * time.Second)
	var prefs string
	for _, m := range ta.SMTP.To(addr) {
		if strings.Contains(m.Part("text/plain"), "/preferences/") && strings.Contains(m.Part("text/html"), "/preferences/") {
			prefs = strings.TrimPrefix(link(t, m, "preferences"), ta.URL())
		}
	}
	if prefs == "" {
		t.Fatal("no preferences link in both parts of the campaign mail")
	}
	events := ta.count(`SELECT count(*) FROM consent_log`)
	p := ta.get(prefs)
	if p.Status != 200 || !strings.Contains(p.Body, "Offers") || !strings.Contains(p.Body, `value="Ann"`) {
		t.Fatalf("page: %d %.400s", p.Status, p.Body)
	}
	ta.get(prefs + "/erase")
	ta.get(prefs + "/export?format=json")
	if n := ta.count(`SELECT count(*) FROM consent_log`); n != events || ta.status(addr) == "none" {
		t.Fatal("a GET changed something")
	}
	for _, bad := range []string{prefs[:len(prefs)-2] + "xx", "/preferences/abc"} {
		if r := ta.postForm(bad, url.Values{"name": {"Mallory"}}); r.Status != 400 {
			t.Fatalf("tampered %s: %d", bad, r.Status)
		}
	}
	if r := ta.postForm(prefs, url.Values{"name": {strings.Repeat("x", 201)}, "list": {"newsletter", "offers"}}); r.Status != 422 || !strings.Contains(r.Body, "200 characters") {
		t.Fatalf("long name: %d", r.Status)
	}
	r := ta.postForm(prefs, url.Values{"name": {"Ann Lee"}, "list": {"newsletter"}})
	if r.Status != 200 || !strings.Contains(r.Body, "Saved") {
		t.Fatalf("save: %d %.300s", r.Status, r.Body)
	}
	var name string
	ta.Store.DB.Get(&name, `SELECT name FROM subscribers WHERE email = $1`, addr)
	var states []string
	ta.Store.DB.Select(&states, `SELECT l.slug || '=' || sn.status FROM subscriptions sn JOIN lists l ON l.id = sn.list_id JOIN subscribers s ON s.id = sn.subscriber_id WHERE s.email = $1 ORDER BY l.slug`, addr)
	if name != "Ann Lee" || strings.Join(states, ",") != "newsletter=confirmed,offers=unsubscribed" {
		t.Fatalf("after saving: %q %v", name, states)
	}
	if acts := ta.consentActions(addr); !strings.HasSuffix(acts, "rectify/preferences,unsubscribe/preferences") {
		t.Fatalf("consent record: %s", acts)
	}

	jr := ta.do("POST", prefs+"/export?format=json", "", "")
	if jr.Status != 200 || !strings.Contains(jr.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("json export: %d %v", jr.Status, jr.Header)
	}
	var x struct {
		Profile       struct{ Email, Name string }
		Subscriptions []struct{ List, Status string }
		Consent       []struct {
			Action string
			Text   *string
		}
		Campaigns []struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(jr.Body), &x); err != nil {
		t.Fatal(err)
	}
	texts := 0
	for _, e := range x.Consent {
		if e.Action == "signup" && e.Text != nil && strings.Contains(*e.Text, "I agree") {
			texts++
		}
	}
	if x.Profile.Email != addr || x.Profile.Name != "Ann Lee" || len(x.Subscriptions) != 2 || texts != 2 || len(x.Campaigns) != 1 || x.Campaigns[0].ID != camp {
		t.Fatalf("json export: %+v", x)
	}
	cr := ta.do("POST", prefs+"/export?format=csv", "", "")
	rows, err := csv.NewReader(strings.NewReader(cr.Body)).ReadAll()
	if cr.Status != 200 || err != nil || !strings.HasPrefix(cr.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv export: %d %v", cr.Status, err)
	}
	found := map[string]bool{}
	for _, row := range rows {
		found[row[0]+"."+row[2]+"="+row[3]] = true
	}
	for _, want := range []string{"profile.email=" + addr, "subscription.status=unsubscribed", "consent.action=rectify", fmt.Sprintf("campaign.status=sent")} {
		if !found[want] {
			t.Fatalf("csv export lacks %s:\n%s", want, cr.Body)
		}
	}
	if r := ta.do("POST", prefs+"/export?format=xml", "", ""); r.Status != 422 {
		t.Fatalf("format xml: %d", r.Status)
	}
}

// TestAPIDataRights: export, restrict and erase through the API and the
// admin pages, each in the audit log with its reason; a restricted subscriber
// is kept but not mailed.
func TestAPIDataRights(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "rights", 3, "confirmed")
	ids := map[string]int64{}
	for i := 1; i <= 3; i++ {
		var id int64
		ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, fmt.Sprintf("rights-%d@example.com", i))
		ids[fmt.Sprint(i)] = id
	}
	sub := func(n string) string { return fmt.Sprintf("/api/v1/subscribers/%d", ids[n]) }

	// Export.
	r := ta.do("GET", sub("1")+"/export?format=csv", "", "", "Authorization", "Bearer "+key)
	if r.Status != 200 || !strings.Contains(r.Body, "rights-1@example.com") {
		t.Fatalf("export: %d %s", r.Status, r.Body)
	}
	if st, m := ta.api("GET", sub("1")+"/export?format=pdf", key, ""); st != 422 || m["field"] != "format" {
		t.Fatalf("bad format: %d %v", st, m)
	}
	// Restrict: kept, not mailed.
	if st, m := ta.api("POST", sub("2")+"/restrict", key, `{"restricted":true,"reason":"gossip"}`); st != 422 || m["field"] != "reason" {
		t.Fatalf("bad reason: %d %v", st, m)
	}
	if st, m := ta.api("POST", sub("2")+"/restrict", key, `{"restricted":true,"reason":"accuracy"}`); st != 200 || m["restricted"] != true {
		t.Fatalf("restrict: %d %v", st, m)
	}
	// Erase.
	if st, m := ta.api("DELETE", sub("3")+"?reason=because", key, ""); st != 422 || m["field"] != "reason" {
		t.Fatalf("bad erase reason: %d %v", st, m)
	}
	if r := ta.do("DELETE", sub("3")+"?reason=objection", "", "", "Authorization", "Bearer "+key); r.Status != 204 {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	if st, _ := ta.api("GET", sub("3"), key, ""); st != 404 {
		t.Fatalf("erased subscriber: %d", st)
	}
	if st, _ := ta.api("DELETE", sub("3"), key, ""); st != 404 {
		t.Fatalf("erase twice: %d", st)
	}
	camp := ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	if len(ta.SMTP.To("rights-1@example.com")) != 1 || len(ta.SMTP.To("rights-2@example.com")) != 0 || len(ta.SMTP.To("rights-3@example.com")) != 0 {
		t.Fatal("the restricted or the erased subscriber was mailed, or the other was not")
	}
	if st, m := ta.api("POST", sub("2")+"/restrict", key, `{"restricted":false}`); st != 200 || m["restricted"] != false {
		t.Fatalf("lift: %d %v", st, m)
	}
	var audit []string
	ta.Store.DB.Select(&audit, `SELECT action || ' ' || target FROM audit_log WHERE user_email LIKE 'api key tests%' ORDER BY id`)
	want := []string{
		fmt.Sprintf("subscriber.export subscriber %s", fmt.Sprint(ids["1"])),
		fmt.Sprintf("subscriber.restrict subscriber %d (reason: accuracy)", ids["2"]),
		fmt.Sprintf("subscriber.erase subscriber %d (reason: objection)", ids["3"]),
		fmt.Sprintf("subscriber.unrestrict subscriber %d (reason: request)", ids["2"]),
	}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
	if st, m := ta.api("GET", "/api/v1/consent/verify", key, ""); st != 200 || m["ok"] != true {
		t.Fatalf("verify: %d %v", st, m)
	}

	// The admin pages: an editor exports and restricts; erasing takes an owner who types erase.
	editor, owner := ta.signedIn("editor"), ta.signedIn("owner")
	page := fmt.Sprintf("/admin/subscribers/%d", ids["1"])
	if r := editor.get(page + "/export?format=json"); r.Status != 200 || !strings.Contains(r.Body, `"email": "rights-1@example.com"`) {
		t.Fatalf("admin export: %d %.200s", r.Status, r.Body)
	}
	if r := editor.post(page+"/restrict", url.Values{"restricted": {"yes"}, "reason": {"legal_claims"}}); r.Status != 303 {
		t.Fatalf("admin restrict: %d", r.Status)
	}
	if r := editor.get(page); !strings.Contains(r.Body, `id="restricted"`) {
		t.Fatal("the page does not say the subscriber is restricted")
	}
	if r := editor.post(page+"/erase", url.Values{"confirm": {"erase"}}); r.Status != 403 {
		t.Fatalf("editor erase: %d", r.Status)
	}
	if r := owner.post(page+"/erase", url.Values{"confirm": {"yes"}}); r.Status != 422 || ta.count(`SELECT count(*) FROM subscribers WHERE id = $1`, ids["1"]) != 1 {
		t.Fatalf("erase without typing erase: %d", r.Status)
	}
	if r := owner.post(page+"/erase", url.Values{"confirm": {"erase"}, "reason": {"request"}}); r.Status != 303 || ta.count(`SELECT count(*) FROM subscribers WHERE id = $1`, ids["1"]) != 0 {
		t.Fatalf("owner erase: %d", r.Status)
	}
	if n := ta.count(`SELECT count(*) FROM audit_log WHERE action IN ('subscriber.export', 'subscriber.restrict', 'subscriber.erase') AND user_id IS NOT NULL`); n != 3 {
		t.Fatalf("%d admin audit entries, want 3", n)
	}
}

func (ta *testApp) retention(args ...string) string {
	ta.t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"retention"}, args...), &out, &errb, func(k string) string { return ta.Env[k] }); code != 0 {
		ta.t.Fatalf("envoi retention %v: %d %s", args, code, errb.String())
	}
	return out.String()
}

// TestRetention: envoi retention --dry-run prints what each rule would do and
// changes nothing; the pass erases signups never confirmed after 30 days
// (without suppressing them), deletes stale pending subscriptions of people on
// other lists, reduces people who left every list 30 days ago to the
// suppression hash, asks people inactive for 3 years again and erases those
// who do not answer within 30 days (not those who confirm), leaves restricted
// people alone, and purges the oldest consent events of people gone after 5
// years, the chain still verifying.
func TestRetention(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ctx := context.Background()
	if _, err := ta.Lists.Create(ctx, lists.New{Slug: "offers", Name: "Offers"}); err != nil {
		t.Fatal(err)
	}
	confirm := func(addr string, n int) {
		t.Helper()
		ta.do("POST", link(t, ta.waitMail(addr, n)[n-1], "confirm"), "", "")
	}
	ta.signup("ret-never@example.com") // first in the chain: its events can be purged one day
	for _, a := range []string{"ret-active@example.com", "ret-silent@example.com", "ret-left@example.com", "ret-two@example.com"} {
		ta.signup(a)
		confirm(a, 1)
	}
	ta.postForm("/subscribe/offers", url.Values{"email": {"ret-two@example.com"}, "consent": {"yes"}})
	ta.signup("ret-restricted@example.com")
	ta.do("POST", link(t, ta.waitMail("ret-left@example.com", 2)[1], "unsubscribe"), "", "")
	ta.waitMessagesDone(10 * time.Second)
	var restricted int64
	ta.Store.DB.Get(&restricted, `SELECT id FROM subscribers WHERE email = 'ret-restricted@example.com'`)
	if _, err := ta.GDPR.Restrict(ctx, restricted, true, "legal_claims", gdprActor); err != nil {
		t.Fatal(err)
	}
	// A month passes for the pending and the unsubscribed.
	db := ta.Store.DB
	db.MustExec(`UPDATE subscribers SET created_at = created_at - interval '31 days'`)
	db.MustExec(`UPDATE subscriptions SET created_at = created_at - interval '31 days', confirm_requested_at = confirm_requested_at - interval '31 days',
    unsubscribed_at = unsubscribed_at - interval '31 days'`)

	before := ta.count(`SELECT count(*) FROM subscribers`) + ta.count(`SELECT count(*) FROM subscriptions`) + ta.count(`SELECT count(*) FROM consent_log`)
	dry := ta.retention("--dry-run")
	for _, want := range []string{"retention dry run at", "  1            would be erased: signups not confirmed within 30 days",
		"  1            would be deleted: pending subscriptions", "  0            would be asked again",
		"  1            would be reduced to the suppression hash", "  0            would be purged"} {
		if !strings.Contains(dry, want) {
			t.Fatalf("dry run lacks %q:\n%s", want, dry)
		}
	}
	if after := ta.count(`SELECT count(*) FROM subscribers`) + ta.count(`SELECT count(*) FROM subscriptions`) + ta.count(`SELECT count(*) FROM consent_log`); after != before {
		t.Fatal("the dry run changed something")
	}
	out := ta.retention()
	if !strings.Contains(out, "  1            erased: signups not confirmed") || !strings.Contains(out, "  1            reduced to the suppression hash") {
		t.Fatalf("pass:\n%s", out)
	}
	left := func() string {
		var es []string
		db.Select(&es, `SELECT s.email || ':' || string_agg(l.slug || '=' || sn.status, '+' ORDER BY l.slug) FROM subscribers s
JOIN subscriptions sn ON sn.subscriber_id = s.id JOIN lists l ON l.id = sn.list_id GROUP BY s.email ORDER BY s.email`)
		return strings.Join(es, " ")
	}
	if got, want := left(), "ret-active@example.com:newsletter=confirmed ret-restricted@example.com:newsletter=unconfirmed ret-silent@example.com:newsletter=confirmed ret-two@example.com:newsletter=confirmed"; got != want {
		t.Fatalf("after the first pass:\n%s\nwant\n%s", got, want)
	}
	reasons := func() string {
		var rs []string
		db.Select(&rs, `SELECT reason FROM suppressions ORDER BY reason`)
		return strings.Join(rs, ",")
	}
	if r := reasons(); r != "unsubscribed" {
		t.Fatalf("suppressions: %s (the never-confirmed one is not suppressed)", r)
	}

	// Three years without a sign of life.
	db.MustExec(`UPDATE subscribers SET last_activity_at = last_activity_at - interval '3 years 1 day'`)
	if out := ta.retention(); !strings.Contains(out, "  3            asked again") {
		t.Fatalf("re-permission:\n%s", out)
	}
	if out := ta.retention(); !strings.Contains(out, "  0            asked again") {
		t.Fatalf("asked twice:\n%s", out)
	}
	mail := ta.waitMail("ret-active@example.com", 3)[2] // after the confirmation and the welcome
	if !strings.Contains(mail.Header("Subject"), "still want") || mail.Header("List-Unsubscribe") == "" {
		t.Fatalf("re-permission mail: %q %v", mail.Header("Subject"), mail.Header("List-Unsubscribe"))
	}
	ta.waitMail("ret-silent@example.com", 3)
	confirm("ret-active@example.com", 3)
	if n := ta.count(`SELECT count(*) FROM subscribers WHERE email = 'ret-active@example.com' AND repermission_at IS NULL AND last_activity_at > now() - interval '1 hour'`); n != 1 {
		t.Fatal("confirming the re-permission is not a sign of life")
	}
	db.MustExec(`UPDATE subscribers SET repermission_at = repermission_at - interval '31 days' WHERE repermission_at IS NOT NULL`)
	if out := ta.retention(); !strings.Contains(out, "  2            erased: asked again more than 30 days ago") {
		t.Fatalf("unanswered:\n%s", out)
	}
	if got, want := left(), "ret-active@example.com:newsletter=confirmed ret-restricted@example.com:newsletter=unconfirmed"; got != want {
		t.Fatalf("after the re-permission:\n%s\nwant\n%s", got, want)
	}
	if r := reasons(); r != "inactive,inactive,unsubscribed" {
		t.Fatalf("suppressions: %s", r)
	}

	// Five years on, the proofs of the people gone are purged from the chain's start.
	ta.Clock.Advance(5*365*24*time.Hour + 48*time.Hour)
	var firstActive int64
	db.Get(&firstActive, `SELECT min(seq) FROM consent_log c JOIN subscribers s ON s.id = c.subscriber_id`)
	r, err := ta.GDPR.RunRetention(ctx, ta.Retention(), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.ConsentPurged != firstActive-1 || r.ConsentPurged < 1 {
		t.Fatalf("purged %d events, want the %d before the first of a present subscriber", r.ConsentPurged, firstActive-1)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE seq < $1`, firstActive); n != 0 {
		t.Fatalf("%d purgeable events left", n)
	}
	if code, out := ta.consentVerify(); code != 0 {
		t.Fatalf("verify after the purge: %s", out)
	}
}

// TestRegister: the record of processing activities (art. 30) names the
// controller from the settings, one activity per list with its confirmed
// subscribers and the retention periods, as JSON, as an HTML document and as
// an owner's admin page.
func TestRegister(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "reg", 3, "confirmed")
	st, m := ta.api("GET", "/api/v1/register", key, "")
	if st != 200 || m["controller"].(map[string]any)["name"] != "Example News Ltd" {
		t.Fatalf("register: %d %v", st, m)
	}
	acts := m["activities"].([]any)
	first := acts[0].(map[string]any)
	if len(acts) != 3 || !strings.Contains(first["name"].(string), "The Weekly Letter") || first["subscribers"] != 3.0 ||
		!strings.Contains(fmt.Sprint(first["retention"]), "erased after 30 days") || !strings.Contains(fmt.Sprint(first["retention"]), "5 years") {
		t.Fatalf("activities: %v", acts)
	}
	r := ta.do("GET", "/api/v1/register?format=html", "", "", "Authorization", "Bearer "+key)
	if r.Status != 200 || !strings.Contains(r.Body, "<h1>Record of processing activities (GDPR art. 30)</h1>") || !strings.Contains(r.Body, "The Weekly Letter") {
		t.Fatalf("html: %d %.300s", r.Status, r.Body)
	}
	if st, m := ta.api("GET", "/api/v1/register?format=pdf", key, ""); st != 422 || m["field"] != "format" {
		t.Fatalf("pdf: %d %v", st, m)
	}
	owner := ta.signedIn("owner")
	if p := owner.get("/admin/register"); p.Status != 200 || !strings.Contains(p.Body, "Example News Ltd") || !strings.Contains(p.Body, "3 confirmed today") {
		t.Fatalf("admin page: %d", p.Status)
	}
	if d := owner.get("/admin/register/download?format=json"); d.Status != 200 || !strings.Contains(d.Header.Get("Content-Disposition"), "envoi-register.json") {
		t.Fatalf("admin download: %d %v", d.Status, d.Header)
	}
}

// TestListFields: a list declares the fields it collects, each with a
// purpose; its form shows only those (and the purposes in its notice, which
// the consent record keeps with the consent label); the API refuses any other
// (422 naming the field); what was typed waits for the confirmation, then
// shows in the subscriber, the export and the preferences page, which corrects it.
func TestListFields(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	for _, bad := range []string{
		`{"fields":[{"name":"Bad Key","label":"X","purpose":"y"}]}`,
		`{"fields":[{"name":"company","label":"Company"}]}`,
		`{"fields":[{"name":"consent","label":"C","purpose":"p"}]}`,
		`{"fields":[{"name":"email"}]}`,
		`{"fields":[{"name":"company","label":"A","purpose":"p"},{"name":"company","label":"B","purpose":"q"}]}`,
	} {
		if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, bad); st != 422 || m["field"] != "fields" {
			t.Fatalf("%s: %d %v", bad, st, m)
		}
	}
	st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"fields":[{"name":"company","label":"Company","purpose":"to tailor the offers to your sector"}]}`)
	if st != 200 || fmt.Sprint(m["fields"]) != "[map[label:Company name:company purpose:to tailor the offers to your sector]]" {
		t.Fatalf("patch: %d %v", st, m)
	}
	page := ta.get("/subscribe/newsletter").Body
	if strings.Contains(page, `id="name"`) || !strings.Contains(page, `name="field.company"`) || !strings.Contains(page, "Company: to tailor the offers to your sector") {
		t.Fatalf("form:\n%s", page)
	}
	for _, c := range []struct{ body, field string }{
		{`{"email":"f1@example.com","name":"Ann","lists":["newsletter"]}`, "name"},
		{`{"email":"f1@example.com","lists":["newsletter"],"fields":{"fax":"123"}}`, "fax"},
		{`{"email":"f1@example.com","lists":["newsletter"],"fields":{"company":"` + strings.Repeat("x", 201) + `"}}`, "company"},
	} {
		if st, m := ta.api("POST", "/api/v1/subscribers", key, c.body); st != 422 || m["field"] != c.field {
			t.Fatalf("%s: %d %v, want 422 naming %s", c.body, st, m, c.field)
		}
	}
	if n := ta.count(`SELECT count(*) FROM subscribers`); n != 0 {
		t.Fatalf("refused signups wrote %d subscribers", n)
	}
	const addr = "fields@example.com"
	if r := ta.postForm("/subscribe/newsletter", url.Values{"email": {addr}, "consent": {"yes"}, "field.company": {"Acme"}}); r.Status != 200 {
		t.Fatalf("form: %d %s", r.Status, r.Body)
	}
	var fields string
	ta.Store.DB.Get(&fields, `SELECT fields::text FROM subscribers WHERE email = $1`, addr)
	if fields != "{}" {
		t.Fatalf("before the confirmation the subscriber holds %s", fields)
	}
	var shown string
	ta.Store.DB.Get(&shown, `SELECT t.body FROM consent_log c JOIN consent_texts t ON t.version = c.consent_text_version JOIN subscribers s ON s.id = c.subscriber_id WHERE s.email = $1`, addr)
	if !strings.HasPrefix(shown, "I agree to receive") || !strings.Contains(shown, "Company: to tailor the offers to your sector") || !strings.Contains(shown, "Your rights:") {
		t.Fatalf("consent record's text: %q", shown)
	}
	ta.do("POST", link(t, ta.waitMail(addr, 1)[0], "confirm"), "", "")
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, addr)
	if _, m := ta.api("GET", fmt.Sprintf("/api/v1/subscribers/%d", id), key, ""); fmt.Sprint(m["fields"]) != "map[company:Acme]" {
		t.Fatalf("after the confirmation: %v", m)
	}
	prefs := "/preferences/" + ta.Subscribe.Tokens.Sign(token.Preferences, id, 0)
	if p := ta.get(prefs); !strings.Contains(p.Body, `value="Acme"`) || strings.Contains(p.Body, `id="name"`) {
		t.Fatalf("preferences page: %.500s", p.Body)
	}
	if r := ta.postForm(prefs, url.Values{"list": {"newsletter"}, "field.company": {"Beta"}}); r.Status != 200 {
		t.Fatalf("save: %d", r.Status)
	}
	if x := ta.do("POST", prefs+"/export?format=json", "", ""); !strings.Contains(x.Body, `"company": "Beta"`) {
		t.Fatalf("export: %s", x.Body)
	}
}

// TestEmailChange: a change of address asked from the preferences page
// changes nothing until the link mailed to the new address is POSTed; a
// second ask within 15 minutes mails nothing; a taken address is refused at
// confirmation, and the answer to the ask is the same for it.
func TestEmailChange(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	const old, next, taken = "old-addr@example.com", "new-addr@example.com", "taken@example.com"
	for _, a := range []string{old, taken} {
		ta.signup(a)
		ta.do("POST", link(t, ta.waitMail(a, 1)[0], "confirm"), "", "")
	}
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, old)
	prefs := "/preferences/" + ta.Subscribe.Tokens.Sign(token.Preferences, id, 0)
	if r := ta.postForm(prefs+"/email", url.Values{"email": {"not an address"}}); r.Status != 422 || !strings.Contains(r.Body, "new-email-error") {
		t.Fatalf("bad address: %d", r.Status)
	}
	r1 := ta.postForm(prefs+"/email", url.Values{"email": {next}})
	if r1.Status != 200 || !strings.Contains(r1.Body, `id="email-sent"`) {
		t.Fatalf("ask: %d %.300s", r1.Status, r1.Body)
	}
	m := ta.waitMail(next, 1)[0]
	if !strings.Contains(m.Header("Subject"), "new address") || strings.Contains(m.Part("text/plain"), old) {
		t.Fatalf("mail to the new address: %q\n%s", m.Header("Subject"), m.Part("text/plain"))
	}
	re := regexp.MustCompile(`https?://[^\s"<>]+/email/[A-Za-z0-9_-]+`)
	u := strings.TrimPrefix(re.FindString(m.Part("text/plain")), ta.URL())
	if u == "" {
		t.Fatal("no link in the mail")
	}
	if p := ta.get(u); p.Status != 200 || ta.count(`SELECT count(*) FROM subscribers WHERE email = $1`, old) != 1 {
		t.Fatalf("the GET changed the address or failed: %d", p.Status)
	}
	if r := ta.postForm(prefs+"/email", url.Values{"email": {"other@example.com"}}); r.Status != 200 || !strings.Contains(r.Body, `id="email-sent"`) {
		t.Fatalf("second ask: %d", r.Status)
	}
	if r := ta.do("POST", u, "", ""); r.Status != 200 || !strings.Contains(r.Body, "changed") {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	if ta.count(`SELECT count(*) FROM subscribers WHERE id = $1 AND email = $2 AND email_hash = $3`, id, next, ta.Store.Pseudo.Email(next)) != 1 {
		t.Fatal("the address did not change")
	}
	if acts := ta.consentActions(next); !strings.HasSuffix(acts, "email_change/link") {
		t.Fatalf("consent record: %s", acts)
	}
	if r := ta.do("POST", u, "", ""); r.Status != 400 {
		t.Fatalf("the link twice: %d", r.Status)
	}
	ta.waitMessagesDone(10 * time.Second)
	if len(ta.SMTP.To("other@example.com")) != 0 {
		t.Fatal("a second ask within 15 minutes mailed")
	}

	// A taken address: the ask answers alike; the confirmation refuses.
	ta.Clock.Advance(16 * time.Minute)
	if r := ta.postForm(prefs+"/email", url.Values{"email": {taken}}); r.Status != 200 || !strings.Contains(r.Body, `id="email-sent"`) {
		t.Fatalf("ask for a taken address: %d", r.Status)
	}
	m = ta.waitMail(taken, 3)[2] // after its confirmation and welcome
	u = strings.TrimPrefix(re.FindString(m.Part("text/plain")), ta.URL())
	if r := ta.do("POST", u, "", ""); r.Status != 409 || ta.count(`SELECT count(*) FROM subscribers WHERE id = $1 AND email = $2`, id, next) != 1 {
		t.Fatalf("taken: %d", r.Status)
	}
}

// TestPreferencesTracking: on a list with open tracking, the preferences page
// shows the separate tracking consent; unticking it withdraws it
// (tracking_withdraw, source preferences), ticking it gives it again.
func TestPreferencesTracking(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"open_tracking":true}`); st != 200 {
		t.Fatalf("patch: %d %v", st, m)
	}
	const addr = "tracked@example.com"
	ta.postForm("/subscribe/newsletter", url.Values{"email": {addr}, "consent": {"yes"}, "tracking_consent": {"yes"}, "name": {"T"}})
	ta.do("POST", link(t, ta.waitMail(addr, 1)[0], "confirm"), "", "")
	var id, list int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, addr)
	ta.Store.DB.Get(&list, `SELECT id FROM lists WHERE slug = 'newsletter'`)
	on := func() bool {
		t.Helper()
		v, err := ta.Subscribe.Tracking(context.Background(), id, list)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !on() {
		t.Fatal("the tracking consent given at signup is not in effect after the confirmation")
	}
	prefs := "/preferences/" + ta.Subscribe.Tokens.Sign(token.Preferences, id, 0)
	if p := ta.get(prefs); !strings.Contains(p.Body, `id="tracking-newsletter" name="tracking" value="newsletter" checked`) {
		t.Fatalf("page: %.2000s", p.Body)
	}
	ta.postForm(prefs, url.Values{"name": {"T"}, "list": {"newsletter"}})
	if on() || !strings.HasSuffix(ta.consentActions(addr), "tracking_withdraw/preferences") {
		t.Fatalf("withdrawal: %v %s", on(), ta.consentActions(addr))
	}
	ta.postForm(prefs, url.Values{"name": {"T"}, "list": {"newsletter"}, "tracking": {"newsletter"}})
	if !on() || !strings.HasSuffix(ta.consentActions(addr), "tracking_consent/preferences") {
		t.Fatalf("given again: %v %s", on(), ta.consentActions(addr))
	}
	if ta.status(addr) != "confirmed" {
		t.Fatal("the tracking choice changed the subscription")
	}
}
