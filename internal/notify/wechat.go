package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// WechatSender sends subscribe messages. The access token is shared by
// every instance through Redis: one instance (the holder of a short Redis
// lock) fetches it when it is missing and the others wait for it, because
// WeChat limits the token calls per day and every fetch invalidates the
// token the other instances hold. Within one instance a singleflight keeps
// concurrent sends to one wait.
type WechatSender struct {
	base, appID, secret string
	rdb                 redis.UniversalClient
	key, lock           string
	http                *http.Client
	flight              singleflight.Group
}

// NewWechatSender sends through base (WECHAT_API_BASE) as the mini-program
// appID; the token is kept under prefix in Redis.
func NewWechatSender(base, appID, secret string, rdb redis.UniversalClient, prefix string) *WechatSender {
	return &WechatSender{base: strings.TrimRight(base, "/"), appID: appID, secret: secret, rdb: rdb,
		key: prefix + "wechat:access_token", lock: prefix + "wechat:access_token:lock",
		http: &http.Client{Timeout: 5 * time.Second}}
}

// Errors of a send: Transient ones are retried, the others are final.
var (
	errTransient = errors.New("transient")
	// ErrRefused is WeChat's 43101: the user did not (or no longer)
	// accept the template.
	ErrRefused = errors.New("wechat: the user refused this template")
)

// transient wraps a failure worth retrying.
func transient(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errTransient}, a...)...)
}

// Transient reports whether a send failure may succeed if retried.
func Transient(err error) bool { return errors.Is(err, errTransient) }

// tokenWait bounds how long an instance waits for another's token fetch.
const tokenWait = 5 * time.Second

// token returns the shared access token, fetching it if none is cached.
func (w *WechatSender) token(ctx context.Context) (string, error) {
	v, err, _ := w.flight.Do("token", func() (any, error) { return w.sharedToken(ctx) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (w *WechatSender) sharedToken(ctx context.Context) (string, error) {
	deadline := time.Now().Add(tokenWait)
	for {
		t, err := w.rdb.Get(ctx, w.key).Result()
		if err == nil && t != "" {
			return t, nil
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", transient("redis: %v", err)
		}
		won, err := w.rdb.SetNX(ctx, w.lock, 1, tokenWait).Result()
		if err != nil {
			return "", transient("redis: %v", err)
		}
		if won {
			// Looked again under the lock: another instance may have
			// cached a token and let the lock go between our read and our
			// SETNX (seen: 20 sends on two instances fetched twice).
			if t, err := w.rdb.Get(ctx, w.key).Result(); err == nil && t != "" {
				w.rdb.Del(context.WithoutCancel(ctx), w.lock)
				return t, nil
			}
			t, err := w.fetchToken(ctx)
			w.rdb.Del(context.WithoutCancel(ctx), w.lock)
			return t, err
		}
		if time.Now().After(deadline) {
			return "", transient("wechat: waited too long for the access token")
		}
		select {
		case <-ctx.Done():
			return "", transient("wechat: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
}

// fetchToken asks WeChat for a token and caches it until five minutes
// before it expires (WeChat keeps the old one valid five minutes after a
// refresh, so a send racing the refresh still succeeds).
func (w *WechatSender) fetchToken(ctx context.Context) (string, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {w.appID}, "secret": {w.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/cgi-bin/token?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("wechat: bad API base")
	}
	resp, err := w.http.Do(req)
	if err != nil {
		// err names the URL, which carries the secret: never wrap it.
		return "", transient("wechat: token request failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", transient("wechat: token HTTP %d", resp.StatusCode)
	}
	var a tokenAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil || a.ErrCode != 0 || a.AccessToken == "" {
		return "", transient("wechat: token errcode %d", a.ErrCode)
	}
	ttl := time.Duration(a.ExpiresIn)*time.Second - 5*time.Minute
	if ttl < time.Minute {
		ttl = time.Minute
	}
	if err := w.rdb.Set(ctx, w.key, a.AccessToken, ttl).Err(); err != nil {
		return "", transient("redis: %v", err)
	}
	return a.AccessToken, nil
}

// forget drops the cached token if it is still t (WeChat said it is no
// longer valid), so the next send fetches a new one.
func (w *WechatSender) forget(ctx context.Context, t string) {
	const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
	w.rdb.Eval(context.WithoutCancel(ctx), script, []string{w.key}, t)
}

type subscribeMessage struct {
	ToUser     string                       `json:"touser"`
	TemplateID string                       `json:"template_id"`
	Page       string                       `json:"page,omitempty"`
	Data       map[string]map[string]string `json:"data"`
}

// WeChat errcodes of subscribe/send.
const (
	errTokenInvalid = 40001
	errTokenExpired = 42001
	errTokenMissing = 41001
	errUserRefused  = 43101
	errSystemBusy   = -1
)

// Send sends one subscribe message to openid. data maps the template's
// keys to values.
func (w *WechatSender) Send(ctx context.Context, openid, templateID, page string, data map[string]string) error {
	t, err := w.token(ctx)
	if err != nil {
		return err
	}
	m := subscribeMessage{ToUser: openid, TemplateID: templateID, Page: page, Data: map[string]map[string]string{}}
	for k, v := range data {
		m.Data[k] = map[string]string{"value": v}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		w.base+"/cgi-bin/message/subscribe/send?access_token="+url.QueryEscape(t), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("wechat: bad API base")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		return transient("wechat: send request failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return transient("wechat: send HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wechat: send HTTP %d", resp.StatusCode)
	}
	var a struct {
		ErrCode int `json:"errcode"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return transient("wechat: malformed send answer")
	}
	switch a.ErrCode {
	case 0:
		return nil
	case errTokenInvalid, errTokenExpired, errTokenMissing:
		w.forget(ctx, t)
		return transient("wechat: access token rejected (%d)", a.ErrCode)
	case errUserRefused:
		return ErrRefused
	case errSystemBusy:
		return transient("wechat: busy")
	default:
		return fmt.Errorf("wechat: send errcode %d", a.ErrCode)
	}
}
