package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func (ta *testApp) apiKey() string {
	ta.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"apikey", "create", "--name", "tests"}, &out, &errb, func(k string) string { return ta.Env[k] })
	if code != 0 {
		ta.t.Fatalf("apikey create: %d %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

func (ta *testApp) api(method, path, key, body string) (int, map[string]any) {
	ta.t.Helper()
	h := []string{}
	if key != "" {
		h = append(h, "Authorization", "Bearer "+key)
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	res := ta.do(method, path, ct, body, h...)
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Body), &m); err != nil {
		ta.t.Fatalf("%s %s: not JSON (%d): %s", method, path, res.Status, res.Body)
	}
	return res.Status, m
}

func TestAPI(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if !strings.HasPrefix(key, "envoi_") || len(key) < 40 {
		t.Fatalf("key %q does not look like a key", key)
	}

	t.Run("ErrNoKey", func(t *testing.T) {
		for _, p := range []string{"/api/v1/lists", "/api/v1/subscribers?email=a@example.com"} {
			st, m := ta.api("GET", p, "", "")
			if st != 401 || !strings.Contains(m["error"].(string), "Authorization: Bearer") {
				t.Errorf("%s without key: %d %v", p, st, m)
			}
		}
	})
	t.Run("ErrBadKey", func(t *testing.T) {
		if st, m := ta.api("GET", "/api/v1/lists", "envoi_wrong", ""); st != 401 || m["error"] == "" {
			t.Errorf("bad key: %d %v", st, m)
		}
	})
	t.Run("Lists", func(t *testing.T) {
		st, m := ta.api("POST", "/api/v1/lists", key, `{"slug":"offers","name":"Offers","description":"Deals"}`)
		if st != 201 || m["slug"] != "offers" || m["name"] != "Offers" {
			t.Fatalf("create list: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/lists", key, `{"slug":"offers","name":"Again"}`)
		if st != 409 || m["field"] != "slug" {
			t.Errorf("duplicate slug: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/lists", key, `{"slug":"Bad Slug!","name":"x"}`)
		if st != 422 || m["field"] != "slug" {
			t.Errorf("bad slug: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/lists", key, `{"slug":"ok","name":""}`)
		if st != 422 || m["field"] != "name" {
			t.Errorf("missing name: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/lists", key, `{"slug":"ok","name":"x","double_opt_in":false}`)
		if st != 400 {
			t.Errorf("unknown field accepted: %d %v", st, m)
		}
		st, m = ta.api("GET", "/api/v1/lists", key, "")
		items := m["items"].([]any)
		if st != 200 || len(items) != 2 {
			t.Fatalf("lists: %d %v", st, m)
		}
	})
	t.Run("Subscribers", func(t *testing.T) {
		st, m := ta.api("POST", "/api/v1/subscribers", key, `{"email":"Api@Example.com","name":"Api","lists":["newsletter","offers"]}`)
		if st != 202 {
			t.Fatalf("create subscriber: %d %v", st, m)
		}
		msgs := ta.waitMail("Api@example.com", 2) // one confirmation per list
		if ta.count(`SELECT count(*) FROM consent_log WHERE source = 'api' AND action = 'signup'`) != 2 {
			t.Error("API signups not logged with source api")
		}
		// Confirm the newsletter one (the two mails may arrive in either order).
		confirmed := false
		for _, m := range msgs {
			if strings.Contains(m.Subject(), "The Weekly Letter") {
				ta.do("POST", link(t, m, "confirm"), "", "")
				confirmed = true
			}
		}
		if !confirmed {
			t.Fatal("no confirmation mail for the newsletter list")
		}

		st, m = ta.api("POST", "/api/v1/subscribers", key, `{"email":"x@example.com","lists":["nope"]}`)
		if st != 422 || m["field"] != "lists" || !strings.Contains(m["error"].(string), "nope") {
			t.Errorf("unknown list: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/subscribers", key, `{"email":"x@example","lists":["newsletter"]}`)
		if st != 422 || m["field"] != "email" {
			t.Errorf("bad email: %d %v", st, m)
		}
		st, m = ta.api("POST", "/api/v1/subscribers", key, `{"email":"x@example.com","lists":[]}`)
		if st != 422 || m["field"] != "lists" {
			t.Errorf("no lists: %d %v", st, m)
		}

		// A lookup ignores the case of the local part (issue 9: CONF@x and conf@x
		// are found alike), and of the domain (normalized).
		st, m = ta.api("GET", "/api/v1/subscribers?email=api@EXAMPLE.com", key, "")
		if items, ok := m["items"].([]any); st != 200 || !ok || len(items) != 1 || items[0].(map[string]any)["email"] != "Api@example.com" {
			t.Fatalf("lookup with another local-part case: %d %v, want the subscriber", st, m)
		}
		st, m = ta.api("GET", "/api/v1/subscribers?email=Api@example.com", key, "")
		items := m["items"].([]any)
		if st != 200 || len(items) != 1 {
			t.Fatalf("lookup: %d %v", st, m)
		}
		sub := items[0].(map[string]any)
		lists := sub["lists"].([]any)
		if sub["email"] != "Api@example.com" || sub["name"] != "Api" || len(lists) != 2 {
			t.Fatalf("subscriber = %v", sub)
		}
		statuses := map[string]any{}
		for _, l := range lists {
			statuses[l.(map[string]any)["slug"].(string)] = l.(map[string]any)["status"]
		}
		if statuses["newsletter"] == statuses["offers"] {
			t.Errorf("statuses = %v, want one confirmed and one unconfirmed", statuses)
		}

		st, m = ta.api("GET", "/api/v1/subscribers?list=newsletter&status=confirmed&page=1", key, "")
		if st != 200 || m["total"].(float64) != 1 || len(m["items"].([]any)) != 1 {
			t.Errorf("page of confirmed: %d %v", st, m)
		}
		st, m = ta.api("GET", "/api/v1/subscribers?list=newsletter&status=confirmed&page=2", key, "")
		if st != 200 || len(m["items"].([]any)) != 0 {
			t.Errorf("page 2: %d %v", st, m)
		}
		for _, bad := range []string{"?list=newsletter&status=maybe", "?list=newsletter&page=0", "?list=nope", "", "?email=nope"} {
			if st, m = ta.api("GET", "/api/v1/subscribers"+bad, key, ""); st != 422 || m["error"] == "" {
				t.Errorf("GET %s: %d %v", bad, st, m)
			}
		}
		// An unknown address gives an empty list, not an error.
		if st, m = ta.api("GET", "/api/v1/subscribers?email=nobody@example.com", key, ""); st != 200 || len(m["items"].([]any)) != 0 {
			t.Errorf("unknown address: %d %v", st, m)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true, env: map[string]string{"ENVOI_REDIS_URL": "redis://127.0.0.1:1/0"}})
	if res := ta.get("/healthz"); res.Status != 200 {
		t.Errorf("healthz: %d", res.Status)
	}
	res := ta.get("/readyz")
	if res.Status != 503 || !strings.Contains(res.Body, `"error":"redis not answering"`) || !strings.Contains(res.Body, `"postgres":"ok"`) ||
		!strings.Contains(res.Body, `"redis":"down"`) || strings.Contains(res.Body, "refused") || strings.Contains(res.Body, "127.0.0.1") {
		t.Errorf("readyz with Redis down: %d %s", res.Status, res.Body)
	}
	if res := ta.get("/nowhere"); res.Status != 404 || !strings.Contains(res.Body, "Page not found") {
		t.Errorf("404 page: %d", res.Status)
	}
	if res := ta.do("PUT", "/subscribe/newsletter", "", ""); res.Status != 405 {
		t.Errorf("PUT: %d", res.Status)
	}
}

func TestReadyzOK(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	if res := ta.get("/readyz"); res.Status != 200 || !strings.Contains(res.Body, `"redis":"ok"`) {
		t.Errorf("readyz: %d %s", res.Status, res.Body)
	}
}
