package wechat

import (
	"errors"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/problem"
)

// FuzzDecodeSession: any answer from WeChat decodes to an identity or to a
// known error, never panics, and no error carries the session_key.
func FuzzDecodeSession(f *testing.F) {
	for _, s := range []string{`{"openid":"o1","session_key":"SK","unionid":"u"}`, `{"errcode":40029,"errmsg":"invalid code"}`,
		`{"errcode":45011}`, `{"errcode":40226}`, `{"errcode":-1}`, `{}`, `not json`, `{"openid":""}`, `{"openid":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		id, err := decodeSession(strings.NewReader(body))
		if err == nil {
			if id.OpenID == "" {
				t.Fatal("identity without openid")
			}
			return
		}
		if _, ok := problem.AsUserErrors(err); !ok && !errors.Is(err, problem.ErrUnavailable) {
			t.Fatalf("unclassified error %v", err)
		}
		if strings.Contains(body, `"session_key":"`) && strings.Contains(err.Error(), "session_key") {
			t.Fatal("error mentions the session key")
		}
	})
}
