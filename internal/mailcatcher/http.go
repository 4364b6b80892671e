package mailcatcher

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
)

var pages = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Envoi mail catcher</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}iframe{width:100%;height:32rem;border:1px solid #ddd}</style>
</head><body>
{{if .Msg}}
<p><a href="/">← all messages</a> · <a href="/messages/{{.Msg.ID}}.eml">raw .eml</a></p>
<h1>{{.Msg.Subject}}</h1>
<p>From {{.Msg.From}} to {{range .Msg.To}}{{.}} {{end}} at {{.Msg.At.Format "2006-01-02 15:04:05"}}</p>
<h2>HTML part</h2><p><small>Links open in a new tab (Envoi's pages refuse to be framed).</small></p>
<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="{{.HTML}}" title="HTML part"></iframe>
<h2>Text part</h2><pre>{{.Text}}</pre>
{{else}}
<h1>Mail catcher</h1>
<p>{{len .Msgs}} message(s) caught. Nothing here leaves this machine.</p>
<form method="post" action="/clear"><button>Delete all</button></form>
<table><thead><tr><th>When</th><th>To</th><th>Subject</th></tr></thead><tbody>
{{range .Msgs}}<tr><td>{{.At.Format "15:04:05"}}</td><td>{{range .To}}{{.}} {{end}}</td>
<td><a href="/messages/{{.ID}}">{{.Subject}}</a></td></tr>{{end}}
</tbody></table>
{{end}}</body></html>`))

// Handler serves the web view (/), one message (/messages/ID, /messages/ID.eml)
// and JSON (/api/messages).
func (c *Catcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		msgs := c.Messages()
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
		if len(msgs) > 500 {
			msgs = msgs[:500]
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pages.Execute(w, map[string]any{"Msgs": msgs})
	})
	mux.HandleFunc("POST /clear", func(w http.ResponseWriter, r *http.Request) {
		c.Reset()
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		idStr := r.PathValue("id")
		raw := false
		if n := len(idStr); n > 4 && idStr[n-4:] == ".eml" {
			idStr, raw = idStr[:n-4], true
		}
		m, ok := c.byID(idStr)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if raw {
			w.Header().Set("Content-Type", "message/rfc822")
			w.Write(m.Raw)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// In the preview every link opens a new tab: a link followed inside the
		// frame would show Envoi's page refusing to be framed.
		pages.Execute(w, map[string]any{"Msg": m, "HTML": `<base target="_blank">` + m.Part("text/html"), "Text": m.Part("text/plain")})
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		type item struct {
			Message
			Subject string `json:"subject"`
			Text    string `json:"text"`
			HTML    string `json:"html"`
		}
		out := []item{}
		to := r.URL.Query().Get("to")
		for _, m := range c.Messages() {
			if to != "" && len(m.To) > 0 && m.To[0] != to {
				continue
			}
			out = append(out, item{m, m.Subject(), m.Part("text/plain"), m.Part("text/html")})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	return mux
}

func (c *Catcher) byID(s string) (Message, bool) {
	id, err := strconv.Atoi(s)
	if err != nil {
		return Message{}, false
	}
	for _, m := range c.Messages() {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}
