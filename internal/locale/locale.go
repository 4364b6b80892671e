// Package locale translates what subscribers read: the public pages and the
// system mails (confirmation, welcome), in the language of the list. The
// catalogs are go-i18n message files in locales/ (one JSON file per language,
// named by its tag: en.json, fr.json); adding a file adds a language. Message
// ids are short keys for the pages' and mails' own texts, and the English text
// itself for the messages the services return (form errors), so that a
// missing translation falls back to English.
package locale

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/envoi/envoi/locales"
)

// Default is the language of lists that name none, and the fallback.
const Default = "en"

// Catalog holds every language's messages. Safe for concurrent use.
type Catalog struct {
	bundle *i18n.Bundle
	langs  []string
	names  map[string]string
}

// Load reads every *.json file of fsys. The default language must be there.
func Load(fsys fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	files, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	c := &Catalog{bundle: b, names: map[string]string{}}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		if _, err := b.ParseMessageFileBytes(raw, f); err != nil {
			return nil, fmt.Errorf("locale %s: %w", f, err)
		}
		tag := strings.TrimSuffix(path.Base(f), ".json")
		c.langs = append(c.langs, tag)
		c.names[tag] = c.For(tag).T("language.name")
	}
	if !slices.Contains(c.langs, Default) {
		return nil, fmt.Errorf("locale: no %s.json", Default)
	}
	slices.Sort(c.langs)
	return c, nil
}

// Languages are the tags of the languages there are files for, sorted.
func (c *Catalog) Languages() []string { return c.langs }

// Name is a language's own name ("Français").
func (c *Catalog) Name(tag string) string { return c.names[tag] }

// Has reports whether tag is one of the languages.
func (c *Catalog) Has(tag string) bool { return slices.Contains(c.langs, tag) }

// For is a translator into lang, then into the languages a browser asks for
// (Accept-Language values), then English.
func (c *Catalog) For(lang string, accept ...string) T {
	if lang == "" {
		lang = Default
	}
	return T{l: i18n.NewLocalizer(c.bundle, append([]string{lang}, accept...)...), Lang: lang}
}

// T translates. The zero T answers every id with itself.
type T struct {
	l    *i18n.Localizer
	Lang string
}

// T is the message id in the language, with data (a struct or map) filled in
// where the message has {{.Field}}; the id itself when no language has it.
func (t T) T(id string, data ...any) string {
	if t.l == nil {
		return id
	}
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		cfg.TemplateData = data[0]
	}
	s, err := t.l.Localize(cfg)
	if err != nil || s == "" {
		return id
	}
	return s
}

var (
	builtinOnce sync.Once
	builtin     *Catalog
	builtinErr  error
)

// Builtin is the catalog of the languages that ship (locales/), loaded once.
// It panics if they do not load: they are part of the binary, and tests load them.
func Builtin() *Catalog {
	builtinOnce.Do(func() { builtin, builtinErr = Load(locales.FS) })
	if builtinErr != nil {
		panic(builtinErr)
	}
	return builtin
}
