package emergency

import "testing"

var order = map[Status]int{Received: 0, Answered: 1, Dispatched: 2, Closed: 3}

func TestTransitionTable(t *testing.T) {
	cases := []struct {
		from Status
		act  Action
		to   Status
		ok   bool
	}{
		{Received, ActAnswer, Answered, true},
		{Received, ActDispatch, "", false},
		{Received, ActClose, "", false},
		{Answered, ActAnswer, "", false},
		{Answered, ActDispatch, Dispatched, true},
		{Answered, ActClose, Closed, true},
		{Dispatched, ActDispatch, Dispatched, true},
		{Dispatched, ActClose, Closed, true},
		{Dispatched, ActAnswer, "", false},
		{Closed, ActAnswer, "", false},
		{Closed, ActDispatch, "", false},
		{Closed, ActClose, "", false},
	}
	for _, c := range cases {
		t.Run(string(c.from)+"/"+string(c.act), func(t *testing.T) {
			to, ok := Next(c.from, c.act)
			if to != c.to || ok != c.ok {
				t.Fatalf("Next(%s, %s) = %s, %v; want %s, %v", c.from, c.act, to, ok, c.to, c.ok)
			}
		})
	}
}

// FuzzNext checks that no sequence of actions ever moves a call backwards
// or out of CLOSED.
func FuzzNext(f *testing.F) {
	f.Add([]byte{0, 1, 1, 2})
	f.Add([]byte{2, 0, 1})
	acts := []Action{ActAnswer, ActDispatch, ActClose, "REOPEN"}
	f.Fuzz(func(t *testing.T, seq []byte) {
		s := Received
		for _, b := range seq {
			to, ok := Next(s, acts[int(b)%len(acts)])
			if !ok {
				continue
			}
			if s == Closed || order[to] < order[s] {
				t.Fatalf("moved %s -> %s", s, to)
			}
			s = to
		}
	})
}
