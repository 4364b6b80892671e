package campaign

import (
	"fmt"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"golang.org/x/net/html"

	"github.com/envoi/envoi/internal/apperr"
)

// Marketers' templates (subjects, bodies, text bodies, layouts) are Go
// templates, and Go templates can loop, build strings and call functions: a
// 45-byte body could take seconds and gigabytes to render, or never finish.
// checkTemplate allows only what the documented fields need: text, fields
// ({{.Subscriber.Name}}, {{.}} inside with), and if / else / with on a field.
// Loops (range), literals ("x", 42, true), functions and pipes (printf, html,
// len…), variables, template calls and definitions are refused at save, with
// the line and column of the first one. What is left renders in time linear in
// the template's size, with fields of bounded size.
func checkTemplate(field, src string) error {
	t, err := texttemplate.New(field).Parse(src)
	if err != nil {
		return apperr.FieldError(field, "The "+strings.ReplaceAll(field, "_", " ")+" has a template error: "+err.Error())
	}
	if len(t.Templates()) > 1 {
		return apperr.FieldError(field, "The "+strings.ReplaceAll(field, "_", " ")+" defines templates ({{define}} or {{block}}): not allowed; use only the documented fields with if, else and with.")
	}
	var walk func(n parse.Node) error
	refuse := func(n parse.Node, what string) error {
		loc, _ := t.Tree.ErrorContext(n)
		if i := strings.Index(loc, ":"); i >= 0 {
			loc = loc[i+1:] // line:column
		}
		l, c, _ := strings.Cut(loc, ":")
		return apperr.FieldError(field, fmt.Sprintf("Line %s, column %s: %s is not allowed in a campaign template (%.40q); use only the documented fields, with if, else and with on them.", l, c, what, n.String()))
	}
	pipe := func(n parse.Node, p *parse.PipeNode) error {
		if p == nil {
			return nil
		}
		if len(p.Decl) > 0 {
			return refuse(n, "a variable")
		}
		if len(p.Cmds) != 1 {
			return refuse(n, "a pipe (|)")
		}
		for _, c := range p.Cmds {
			if len(c.Args) != 1 {
				return refuse(n, "a function call")
			}
			switch a := c.Args[0].(type) {
			case *parse.FieldNode, *parse.DotNode:
			case *parse.IdentifierNode:
				return refuse(n, "the function "+a.Ident)
			case *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
				return refuse(n, "a literal")
			case *parse.VariableNode:
				return refuse(n, "a variable")
			default:
				return refuse(n, "this expression")
			}
		}
		return nil
	}
	walk = func(n parse.Node) error {
		switch x := n.(type) {
		case nil:
			return nil
		case *parse.ListNode:
			if x == nil {
				return nil
			}
			for _, c := range x.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		case *parse.TextNode, *parse.CommentNode:
			return nil
		case *parse.ActionNode:
			return pipe(x, x.Pipe)
		case *parse.IfNode:
			if err := pipe(x, x.Pipe); err != nil {
				return err
			}
			if err := walk(x.List); err != nil {
				return err
			}
			return walk(x.ElseList)
		case *parse.WithNode:
			if err := pipe(x, x.Pipe); err != nil {
				return err
			}
			if err := walk(x.List); err != nil {
				return err
			}
			return walk(x.ElseList)
		case *parse.RangeNode:
			return refuse(x, "{{range}}")
		case *parse.TemplateNode:
			return refuse(x, "{{template}}")
		case *parse.BreakNode, *parse.ContinueNode:
			return refuse(x, "{{break}} or {{continue}}")
		}
		return refuse(n, "this")
	}
	if t.Tree == nil {
		return nil
	}
	return walk(t.Tree.Root)
}

// checkRendered applies the HTML policy to what is sent, not only to what was
// typed: a sample render of the whole message (layout and body, with the
// fields filled in) is run through the layout policy, and anything the policy
// would take out (an element, an attribute, a URL with another scheme than
// http, https or mailto, a CSS property outside safeCSS) refuses the save,
// naming it. Bodies and marketers' layouts are sanitized at save, and
// html/template escapes the fields in their context, so this finds nothing
// unless one of those layers let something through; it is the last check.
func checkRendered(field, rendered string) error {
	kept := map[string]int{}
	for _, e := range policyElements(layoutSanitizer.Sanitize(rendered)) {
		for _, k := range e.keys {
			kept[k]++
		}
	}
	for _, e := range policyElements(rendered) {
		var missing []string
		for _, k := range e.keys {
			if kept[k] == 0 {
				missing = append(missing, k)
			}
			kept[k]--
		}
		if len(missing) == 0 {
			continue
		}
		// Name the reason: the element itself when it goes (unless a URL of
		// its explains it), else the first attribute or property that goes.
		why := missing[0]
		if why == e.keys[0] {
			for _, k := range missing[1:] {
				if strings.Contains(k, " of scheme ") {
					why = k
					break
				}
			}
		}
		return apperr.FieldError(field, fmt.Sprintf("The message as sent would contain %s (in %.80s), which campaign mail may not carry: no script, forms, frames or event handlers, links only to http, https or mailto, and only the documented CSS properties.", why, e.raw))
	}
	return nil
}

// policyElement is what the policy decides on for one element: the element
// ("<a>"), each attribute (with the scheme of URL attributes) and each CSS
// property of its style.
type policyElement struct {
	raw  string
	keys []string
}

func policyElements(doc string) []policyElement {
	var out []policyElement
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			raw := string(z.Raw())
			t := z.Token()
			e := policyElement{raw: raw, keys: []string{"<" + t.Data + ">"}}
			for _, a := range t.Attr {
				switch a.Key {
				case "style":
					for _, decl := range strings.Split(a.Val, ";") {
						if prop, _, ok := strings.Cut(decl, ":"); ok && strings.TrimSpace(prop) != "" {
							e.keys = append(e.keys, fmt.Sprintf("the CSS property %q on <%s>", strings.ToLower(strings.TrimSpace(prop)), t.Data))
						}
					}
				case "href", "src", "action", "formaction", "background", "poster", "cite", "xlink:href":
					e.keys = append(e.keys, fmt.Sprintf("a %s on <%s> of scheme %q", a.Key, t.Data, urlScheme(a.Val)))
				case "rel", "target":
					// The policy adds and rewrites these (rel="nofollow noopener").
				default:
					e.keys = append(e.keys, fmt.Sprintf("the attribute %s on <%s>", a.Key, t.Data))
				}
			}
			out = append(out, e)
		}
	}
}

// urlScheme is a URL's scheme as a browser would read it ("" when relative).
func urlScheme(u string) string {
	u = strings.TrimSpace(u)
	u = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1 // browsers skip these inside a scheme
		}
		return r
	}, u)
	i := strings.IndexAny(u, ":/?#")
	if i <= 0 || u[i] != ':' {
		return ""
	}
	return strings.ToLower(u[:i])
}
