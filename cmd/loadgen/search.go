package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/mozillazg/go-pinyin"
)

// The district-scale list and search mixes (issue 16): what a counter does
// all day against a million residents.

const listPage = `query($f:ResidentFilter){residents(first:100,filter:$f){totalCount totalCountIsEstimate pageInfo{hasNextPage endCursor}
  edges{node{id name idNumberMasked age careLevel statuses community{name} emergencyContacts{name phoneMasked priority}
  vouchers{balanceFen status} voucherBalanceFen disabilityCertificate{grade category}}}}}`

const searchPage = `query($f:ResidentFilter){residents(first:20,filter:$f){edges{node{id name idNumberMasked age community{name}}}}}`

// listsMix: a nested page of 100 with totalCount, in turn unfiltered, by
// statuses and age, by care level, and as a case worker (their street).
func listsMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	clerk, err := c.login(ctx, "clerk", "demo-password")
	if err != nil {
		return 0, err
	}
	cw, err := c.login(ctx, "caseworker", "demo-password")
	if err != nil {
		return 0, err
	}
	type variant struct {
		op, token string
		filter    map[string]any
	}
	variants := []variant{
		{"list unfiltered", clerk, nil},
		{"list LIVING_ALONE 80+", clerk, map[string]any{"statuses": []string{"LIVING_ALONE"}, "minAge": 80}},
		{"list SEVERE,TOTAL", clerk, map[string]any{"careLevels": []string{"SEVERE", "TOTAL"}}},
		{"list case worker's street", cw, nil},
	}
	return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		v := variants[int(i)%len(variants)]
		timed(ctx, st, c, v.op, v.token, listPage, map[string]any{"f": v.filter}, "")
	}), nil
}

// searchMix: a clerk searches with real names from the registry: the full
// name, the given name, the initials and the full pinyin.
func searchMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	clerk, err := c.login(ctx, "clerk", "demo-password")
	if err != nil {
		return 0, err
	}
	names, err := residentNames(ctx, c, clerk, 500)
	if err != nil {
		return 0, err
	}
	kinds := []struct {
		op string
		of func(string) string
	}{
		{"search full name", func(n string) string { return n }},
		{"search given name", func(n string) string { return string([]rune(n)[1:]) }},
		{"search initials", func(n string) string { return romanize(n, true) }},
		{"search full pinyin", func(n string) string { return romanize(n, false) }},
		{"nameContains given name", nil},
	}
	return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		k, n := kinds[int(i)%len(kinds)], names[rand.IntN(len(names))]
		f := map[string]any{}
		if k.of == nil {
			f["nameContains"] = string([]rune(n)[1:])
		} else {
			f["search"] = k.of(n)
		}
		timed(ctx, st, c, k.op, clerk, searchPage, map[string]any{"f": f}, "")
	}), nil
}

// residentNames reads n names of residents of two characters or more.
func residentNames(ctx context.Context, c *client, token string, n int) ([]string, error) {
	var out []string
	err := residentNodes(ctx, c, token, "name", func(node any) bool {
		if s, ok := dig(node, "name").(string); ok && len([]rune(s)) >= 2 {
			out = append(out, s)
		}
		return len(out) < n
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("no residents: run with -prepare N")
	}
	return out, err
}

func romanize(name string, initials bool) string {
	var b strings.Builder
	for _, s := range pinyin.LazyPinyin(name, pinyin.NewArgs()) {
		if initials {
			s = s[:1]
		}
		b.WriteString(s)
	}
	return b.String()
}
