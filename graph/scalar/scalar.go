// Package scalar marshals the contract's custom scalars: Time (RFC 3339 in
// Asia/Shanghai), Date (YYYY-MM-DD) and Fen (integer money, never a float).
package scalar

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/problem"
)

// MarshalTime writes t as RFC 3339 with the +08:00 offset.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.In(civil.Shanghai).Format(time.RFC3339)))
	})
}

// UnmarshalTime reads an RFC 3339 timestamp with an offset.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, problem.BadInput("Time must be an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, problem.BadInput("Time must be RFC 3339 with an offset, e.g. 2026-11-27T09:30:00+08:00")
	}
	return t, nil
}

// MarshalDate writes d as YYYY-MM-DD.
func MarshalDate(d civil.Date) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { io.WriteString(w, strconv.Quote(d.String())) })
}

// UnmarshalDate reads a strict YYYY-MM-DD date.
func UnmarshalDate(v any) (civil.Date, error) {
	s, ok := v.(string)
	if !ok {
		return civil.Date{}, problem.BadInput("Date must be a YYYY-MM-DD string")
	}
	d, err := civil.ParseDate(s)
	if err != nil {
		return civil.Date{}, problem.BadInput("Date must be a real date as YYYY-MM-DD")
	}
	return d, nil
}

// MarshalFen writes an amount of fen as a JSON integer.
func MarshalFen(f int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { io.WriteString(w, strconv.FormatInt(f, 10)) })
}

// UnmarshalFen reads an integer amount of fen. Fractions, strings,
// exponents and anything outside int64 are refused: money is never a float.
func UnmarshalFen(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, problem.BadInput("Fen must be an integer number of fen within ±9223372036854775807")
		}
		return n, nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, problem.BadInput("Fen must be an integer number of fen")
		}
		return int64(x), nil
	}
	return 0, problem.BadInput("Fen must be an integer number of fen")
}
