package emergency_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestZZDebug(t *testing.T) {
	e := testenv.New(t)
	r := e.Do(t, e.As(t, "operator"), `{emergencyCallStats(from:"2020-01-01T00:00:00Z",to:"2020-01-02T00:00:00Z"){total}}`, nil)
	t.Log(r.Raw)
	t.Log(e.Logs())
}
