package campaign

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// Click tracking rewrites a campaign's links once, at compile time: each
// http(s) href of the page (body and layout) and each http(s) URL of a
// marketer's own text part becomes {{.Click}}.N, where N is the link's index in
// the campaign (Compiled.Links) and Click the message's /r/{token} prefix: one
// signature per message, whatever the number of links. Personalized URLs
// (with a template action), the unsubscribe and preferences links and mailto:
// are left as they are.

// clickMark stands for {{.Click}} in a source until the template is parsed.
const clickMark = "ENVOICLICKX"

// pixelMark is where the open pixel goes in the page.
const pixelMark = "ENVOIPIXELX"

// pixelTemplate is the open pixel: only when the message has one (Fields.OpenPixel).
const pixelTemplate = `{{if .OpenPixel}}<img src="{{.OpenPixel}}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">{{end}}`

// MaxLinks bounds the links of one campaign that are rewritten; later ones stay as they are.
const MaxLinks = 1000

var hrefRE = regexp.MustCompile(`(?i)(<a\b[^>]*?\shref=")([^"]*)(")`)

// textURLRE finds URLs in a marketer's text part; template actions end them.
var textURLRE = regexp.MustCompile(`https?://[^\s<>"'(){}\[\]]+`)

// linkSet numbers a campaign's distinct link targets in order of appearance.
type linkSet struct {
	urls []string
	idx  map[string]int
}

func (ls *linkSet) index(u string) (int, bool) {
	if i, ok := ls.idx[u]; ok {
		return i, true
	}
	if len(ls.urls) >= MaxLinks || len(u) > 4096 {
		return 0, false
	}
	if ls.idx == nil {
		ls.idx = map[string]int{}
	}
	ls.idx[u] = len(ls.urls)
	ls.urls = append(ls.urls, u)
	return len(ls.urls) - 1, true
}

// trackable reports whether a link target is one to rewrite: an absolute
// http(s) URL with no template action or placeholder in it.
func trackable(u string) bool {
	lu := strings.ToLower(u)
	if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") {
		return false
	}
	return !strings.Contains(u, "ENVOI") && !strings.Contains(u, "{{") && len(u) > len("https://")
}

// rewriteHrefs rewrites the trackable hrefs of a page (HTML with placeholders
// for actions): attribute values are HTML-escaped, the URLs kept are not.
func (ls *linkSet) rewriteHrefs(page string) string {
	return hrefRE.ReplaceAllStringFunc(page, func(m string) string {
		sub := hrefRE.FindStringSubmatch(m)
		u := strings.TrimSpace(html.UnescapeString(sub[2]))
		if !trackable(u) {
			return m
		}
		i, ok := ls.index(u)
		if !ok {
			return m
		}
		return sub[1] + clickMark + "." + strconv.Itoa(i) + sub[3]
	})
}

// rewriteText rewrites the URLs of a text template source; a URL that runs
// into a template action ({{…}}) is personalized and stays.
func (ls *linkSet) rewriteText(src string) string {
	var b strings.Builder
	last := 0
	for _, loc := range textURLRE.FindAllStringIndex(src, -1) {
		start, end := loc[0], loc[1]
		if end < len(src) && src[end] == '{' {
			continue
		}
		// Sentence punctuation after a URL is not part of it.
		for end > start && strings.IndexByte(".,;:!?", src[end-1]) >= 0 {
			end--
		}
		u := src[start:end]
		if !trackable(u) {
			continue
		}
		i, ok := ls.index(u)
		if !ok {
			continue
		}
		b.WriteString(src[last:start])
		b.WriteString("{{.Click}}." + strconv.Itoa(i))
		last = end
	}
	if last == 0 {
		return src
	}
	b.WriteString(src[last:])
	return b.String()
}

// withPixel puts the pixel placeholder at the end of the page's body.
func withPixel(page string) string {
	if i := strings.LastIndex(strings.ToLower(page), "</body>"); i >= 0 {
		return page[:i] + pixelMark + page[i:]
	}
	return page + pixelMark
}
