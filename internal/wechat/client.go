// Package wechat is the WeChat mini-program identity: the code2Session
// exchange with WeChat's API and wechatLogin, which turns a wx.login code
// into a session for a WeChat account (role RESIDENT). The session_key
// WeChat returns never leaves this package: it is not stored, returned or
// logged.
package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jinjiang/residents/internal/problem"
)

// Identity is who WeChat says the code belongs to.
type Identity struct {
	OpenID  string
	UnionID string
}

// Client calls WeChat's API.
type Client struct {
	base, appID, secret string
	http                *http.Client
}

// NewClient returns a client for base (WECHAT_API_BASE).
func NewClient(base, appID, secret string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), appID: appID, secret: secret,
		http: &http.Client{Timeout: 5 * time.Second}}
}

// session is WeChat's answer as documented.
type session struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid"`
	ErrCode    int    `json:"errcode"`
	ErrMsg     string `json:"errmsg"`
}

// WeChat error codes of code2Session.
const (
	errInvalidCode = 40029
	errRateLimited = 45011
	errBlocked     = 40226
	errCodeUsed    = 40163
)

var (
	errInvalid = problem.New(problem.InvalidCredentials, "微信登录凭证无效或已过期，请重新登录 (the WeChat login code is invalid or expired; sign in again)", "input", "code")
	errLimited = problem.New(problem.TooManyAttempts, "微信登录过于频繁，请稍后再试 (too many WeChat sign-ins; try again in a minute)")
	errBlock   = problem.New(problem.InvalidCredentials, "该微信账号已被微信限制登录 (this WeChat account is blocked by WeChat)", "input", "code")
)

// Exchange trades a wx.login code for the user's identity. WeChat's
// business errors become userErrors; network failures, timeouts and
// unexpected answers are problem.ErrUnavailable.
func (c *Client) Exchange(ctx context.Context, code string) (Identity, error) {
	q := url.Values{"appid": {c.appID}, "secret": {c.secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/sns/jscode2session?"+q.Encode(), nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: wechat: bad API base", problem.ErrUnavailable)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// err names the URL, which carries the secret and the code: never wrap it.
		return Identity{}, fmt.Errorf("%w: wechat: request failed", problem.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("%w: wechat: HTTP %d", problem.ErrUnavailable, resp.StatusCode)
	}
	return decodeSession(io.LimitReader(resp.Body, 64<<10))
}

// decodeSession reads a code2Session answer; the session_key is dropped here.
func decodeSession(r io.Reader) (Identity, error) {
	var s session
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return Identity{}, fmt.Errorf("%w: wechat: malformed answer", problem.ErrUnavailable)
	}
	switch s.ErrCode {
	case 0:
	case errInvalidCode, errCodeUsed:
		return Identity{}, errInvalid
	case errRateLimited:
		return Identity{}, errLimited
	case errBlocked:
		return Identity{}, errBlock
	default:
		return Identity{}, fmt.Errorf("%w: wechat: errcode %d", problem.ErrUnavailable, s.ErrCode)
	}
	if s.OpenID == "" || len(s.OpenID) > 128 || len(s.UnionID) > 128 {
		return Identity{}, fmt.Errorf("%w: wechat: answer without a usable openid", problem.ErrUnavailable)
	}
	return Identity{OpenID: s.OpenID, UnionID: s.UnionID}, nil
}

// Unavailable reports whether err is an outage (the code may be retried).
func Unavailable(err error) bool { return errors.Is(err, problem.ErrUnavailable) }
