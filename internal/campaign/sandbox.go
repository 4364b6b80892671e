package campaign

import (
	"fmt"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

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
