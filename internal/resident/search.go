package resident

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/mozillazg/go-pinyin"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

// A counter clerk finds a resident by what they hear or can type fastest:
// part of the name in characters (桂英), the full pinyin (zhangguiying,
// guiying) or its initials (zgy). Postgres cannot romanize, so the terms a
// name is found by are computed here, on every write of a name, into
// residents.name_terms. Triggers copy them into resident_name_terms, one
// row per (term, resident) under a btree (migration 00093), so that a page
// of a search walks one term's matches newest first and stops at the
// page's end (store.go, listByName).
//
// The terms of a name are
//   - every character and every pair of adjacent characters, lower-cased:
//     any substring of two or more characters contains all of its pairs, so
//     "contains 桂英" becomes "has the pair 桂英", and longer substrings are
//     the conjunction of their pairs re-checked with LIKE;
//   - "py:" and the pinyin of the runs of syllables a clerk types: from the
//     surname on (zhang, zhanggui, zhangguiying) and to the name's end
//     (guiying, ying), and "py:" and their initials of two letters or more
//     (zg, zgy, gy). A middle syllable alone, or one initial, would match a
//     tenth of the district and only cost index size;
//   - the same again for each reading a surname has besides the default
//     one (曾 zeng, 单 shan, 解 xie): the default reading of 曾 is ceng.
//     Other characters keep their default reading: go-pinyin's other
//     readings are mostly rare (英 yang) and tripled a name's terms.
//
// A seeded name has about 13 terms: 13 million index rows at 10^6
// residents, the largest part of loading them.
//
// Pinyin is matched by whole syllables: "zhanggui" finds 张桂英, "zhanggu"
// does not.

// searchPrefix marks pinyin terms, so that a pinyin term never equals a
// character pair of another name ("li" the syllable, "li" the two letters).
const searchPrefix = "py:"

// maxRunSyllables bounds the runs of a long name (minority names of ten
// characters would otherwise add dozens of terms).
const maxRunSyllables = 6

// surnameReadings are surnames read otherwise than their character's
// default reading (compound surnames by their two characters).
var surnameReadings = map[string][]string{
	"曾": {"zeng"}, "单": {"shan"}, "解": {"xie"}, "仇": {"qiu"}, "区": {"ou"}, "查": {"zha"},
	"朴": {"piao"}, "盖": {"ge"}, "召": {"shao"}, "乐": {"yue", "le"}, "缪": {"miao"}, "覃": {"qin"},
	"尉": {"yu", "wei"}, "种": {"chong"}, "繁": {"po"}, "员": {"yun"}, "宿": {"su"}, "翟": {"zhai"},
	"秘": {"bi"}, "华": {"hua"}, "任": {"ren"}, "纪": {"ji"}, "折": {"she"}, "褚": {"chu"},
	"都": {"du"}, "薄": {"bo"}, "句": {"gou"}, "冼": {"xian"}, "隗": {"wei"}, "阚": {"kan"},
	"逄": {"pang"}, "黑": {"he"}, "过": {"guo"}, "沈": {"shen"}, "石": {"shi"}, "祭": {"zhai"},
	"万俟": {"moqi"}, "尉迟": {"yuchi"}, "长孙": {"zhangsun"}, "单于": {"chanyu"}, "澹台": {"tantai"},
}

var defaultArgs = pinyin.NewArgs()

// SearchTerms returns the terms a name is found by, each once.
func SearchTerms(name string) []string {
	name = strings.ToLower(strings.TrimSpace(name))
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, g := range grams(name) {
		add(g)
	}
	for _, syl := range readings(name) {
		n := min(len(syl), maxRunSyllables)
		for i := range n {
			// From the surname on, and to the name's end.
			for _, run := range [][2]int{{0, i + 1}, {n - 1 - i, n}} {
				full, initials := "", ""
				for _, x := range syl[run[0]:run[1]] {
					full += x
					initials += x[:1]
				}
				add(searchPrefix + full)
				if len(initials) >= 2 {
					add(searchPrefix + initials)
				}
			}
		}
	}
	return out
}

// grams returns the characters and adjacent pairs of s (already lower-cased).
func grams(s string) []string {
	r := []rune(s)
	out := make([]string, 0, 2*len(r))
	for i := range r {
		out = append(out, string(r[i]))
		if i+1 < len(r) {
			out = append(out, string(r[i:i+2]))
		}
	}
	return out
}

// readings returns the syllables of name's Han characters in their
// default reading, then once more for each other reading of its surname.
func readings(name string) [][]string {
	def := pinyin.LazyPinyin(name, defaultArgs)
	if len(def) == 0 {
		return nil
	}
	out := [][]string{def}
	r := []rune(name)
	for _, k := range []int{2, 1} { // a compound surname first
		if len(r) <= k {
			continue
		}
		alt, ok := surnameReadings[string(r[:k])]
		if !ok || len(def) < k {
			continue
		}
		for _, a := range alt {
			out = append(out, append([]string{a}, def[k:]...))
		}
		break
	}
	return out
}

// nameMatch is a substring of a name in index terms: the terms that every
// name containing it has, and the LIKE pattern that re-checks them (pairs
// can occur apart: 张桂 and 桂英 in 张桂 桂英).
type nameMatch struct {
	terms []string
	like  string // "" when the terms decide alone
}

// matchName turns a name substring into index terms. The empty string
// matches everything and yields no terms.
func matchName(s string) nameMatch {
	s = strings.ToLower(s)
	r := []rune(s)
	switch len(r) {
	case 0:
		return nameMatch{}
	case 1, 2:
		return nameMatch{terms: []string{s}}
	}
	m := nameMatch{like: s}
	for i := 0; i+1 < len(r); i++ {
		m.terms = append(m.terms, string(r[i:i+2]))
	}
	return m
}

// searchQuery is a counter search: a name substring in characters, or
// pinyin (full or initials) by whole syllables, case-insensitive; spaces and
// apostrophes (xi'an) are ignored.
type searchQuery struct {
	name   nameMatch
	pinyin string // the pinyin term, or "" when the text is not Latin letters
}

func parseSearch(s string) searchQuery {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\'' || r == '’' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	q := searchQuery{name: matchName(s)}
	if s != "" && isLatin(s) {
		q.pinyin = searchPrefix + s
	}
	return q
}

func isLatin(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf || r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// backfillBatch is the rows romanized per transaction.
const backfillBatch = 5000

// BackfillSearchTerms computes name_terms for the rows that have none
// (written before migration 00086, or by a tool that does not know it), in
// committed batches walked by id, so it resumes wherever it stopped and two
// instances running it at once only repeat each other's work. It answers
// how many rows it filled.
func BackfillSearchTerms(ctx context.Context, db *gorm.DB) (int, error) {
	var last uuid.UUID
	done := 0
	for {
		var rows []struct {
			ID   uuid.UUID
			Name string
		}
		if err := db.WithContext(ctx).Table("residents").Select("id, name").
			Where("id > ? AND name_terms IS NULL", last).Order("id").Limit(backfillBatch).Find(&rows).Error; err != nil {
			return done, fmt.Errorf("resident: backfill search terms: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		ids, names, terms := make([]uuid.UUID, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		for i, r := range rows {
			ids[i], names[i], terms[i] = r.ID, r.Name, strings.Join(SearchTerms(r.Name), termSep)
		}
		// The name is compared again: a row renamed since it was read
		// keeps the terms its writer gave it.
		res := db.WithContext(ctx).Exec(`UPDATE residents r SET name_terms = string_to_array(v.terms, ?)
			FROM unnest(?::uuid[], ?::text[], ?::text[]) AS v(id, name, terms)
			WHERE r.id = v.id AND r.name = v.name AND r.name_terms IS NULL`,
			termSep, database.UUIDs(ids), pq.StringArray(names), pq.StringArray(terms))
		if res.Error != nil {
			return done, fmt.Errorf("resident: backfill search terms: %w", res.Error)
		}
		done += int(res.RowsAffected)
		last = rows[len(rows)-1].ID
	}
	if done > 0 {
		if err := db.WithContext(ctx).Exec("ANALYZE residents").Error; err != nil {
			return done, fmt.Errorf("resident: backfill search terms: analyze: %w", err)
		}
	}
	return done, nil
}

// termSep joins a row's terms into one text for the batch update: the
// unit separator, a control character no real name holds (one that did
// would only be split into more terms, found by more searches of itself).
const termSep = "\x1f"
