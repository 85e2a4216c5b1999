package problem

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Lang is the language a person reads messages in: Chinese unless the
// request asks for English.
type Lang int

// The two languages of the catalog.
const (
	Chinese Lang = iota
	English
)

type langKey struct{}

// WithLang returns ctx carrying the request's language.
func WithLang(ctx context.Context, l Lang) context.Context {
	return context.WithValue(ctx, langKey{}, l)
}

// LangFrom is the request's language (Chinese when none was set).
func LangFrom(ctx context.Context) Lang {
	l, _ := ctx.Value(langKey{}).(Lang)
	return l
}

// ParseAcceptLanguage picks English only when the most preferred language of
// an Accept-Language header is English; anything else, or none, is Chinese.
func ParseAcceptLanguage(h string) Lang {
	best, bestQ := "", -1.0
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if tag != "" && q > bestQ {
			best, bestQ = strings.ToLower(tag), q
		}
	}
	if best == "en" || strings.HasPrefix(best, "en-") {
		return English
	}
	return Chinese
}

type template struct {
	re     *regexp.Regexp
	en, zh string
}

var (
	exact     = map[string][2]string{} // either side -> {en, zh}
	templates []template
	slot      = regexp.MustCompile(`\{\d?\}`)
)

func init() {
	for _, e := range catalog {
		if !strings.Contains(e[0], "{}") {
			exact[e[0]] = e
			exact[e[1]] = e
			continue
		}
		for _, side := range e {
			parts := slot.Split(side, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			templates = append(templates, template{re: regexp.MustCompile("^" + strings.Join(parts, "(.+?)") + "$"), en: e[0], zh: e[1]})
		}
	}
}

// Message is msg in the language l: from the catalog, or from the
// "中文 (English)" halves of the message, or the code's own message when
// msg is in the other language and not in the catalog.
func Message(l Lang, code, msg string) string {
	if out, ok := Localize(l, msg); ok {
		return out
	}
	if hasHan(msg) == (l == Chinese) {
		return msg
	}
	if m, ok := codeMessages[code]; ok {
		return m[l^1]
	}
	return msg
}

// Localize is msg in l when the catalog (or the message's own two halves)
// knows it.
func Localize(l Lang, msg string) (string, bool) {
	if e, ok := exact[msg]; ok {
		return e[l^1], true
	}
	if zh, en, ok := halves(msg); ok {
		if l == Chinese {
			return zh, true
		}
		return en, true
	}
	for _, t := range templates {
		m := t.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		out := t.zh
		if l == English {
			out = t.en
		}
		return fill(l, out, m[1:]), true
	}
	return "", false
}

// fill puts the parameters into a template's slots, "{}" in order or
// "{0}", "{1}" by position; a parameter that is a catalog word is
// translated too.
func fill(l Lang, tmpl string, args []string) string {
	for i, a := range args {
		if e, ok := exact[a]; ok {
			args[i] = e[l^1]
		}
	}
	next := 0
	return slot.ReplaceAllStringFunc(tmpl, func(s string) string {
		i := next
		if len(s) == 3 {
			i = int(s[1] - '0')
		} else {
			next++
		}
		if i < len(args) {
			return args[i]
		}
		return ""
	})
}

// halves splits "中文 (English)" (with an optional ": detail" after the
// parenthesis, kept on both sides) into its two languages.
func halves(msg string) (zh, en string, ok bool) {
	open := strings.Index(msg, "(")
	if open <= 0 || !hasHan(msg[:open]) {
		return "", "", false
	}
	depth := 0
	for i := open; i < len(msg); i++ {
		switch msg[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				inner, rest := msg[open+1:i], msg[i+1:]
				if hasHan(inner) || strings.TrimSpace(inner) == "" {
					return "", "", false
				}
				return strings.TrimSpace(msg[:open]) + rest, inner + rest, true
			}
		}
	}
	return "", "", false
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}
