package campaign

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// emphasis are the inline elements html2text would mark with asterisks
// ("*Newsletter* :"); in a plain-text part they are only noise.
var emphasis = map[atom.Atom]bool{atom.B: true, atom.Strong: true, atom.Em: true, atom.I: true, atom.U: true}

// plainInline unwraps emphasis in an HTML page (the element gives way to its
// children), so that the text part derived from it reads as plain prose.
func plainInline(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return page
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			walk(c)
			if c.Type == html.ElementNode && emphasis[c.DataAtom] {
				for gc := c.FirstChild; gc != nil; {
					gnext := gc.NextSibling
					c.RemoveChild(gc)
					n.InsertBefore(gc, c)
					gc = gnext
				}
				n.RemoveChild(c)
			}
			c = next
		}
	}
	walk(doc)
	var b strings.Builder
	if err := html.Render(&b, doc); err != nil {
		return page
	}
	return b.String()
}

var bareQuote = regexp.MustCompile(`(?m)^>+[ \t]*$`)

// tidyText drops the lines html2text leaves holding only quote markers.
func tidyText(text string) string {
	return bareQuote.ReplaceAllString(text, "")
}
