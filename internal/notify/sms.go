package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// SMSSender posts text messages to a plain HTTP gateway: POST
// {SMS_API_BASE}/send with a JSON body {phone, template, params} and the
// key as a bearer token. A 2xx answer is sent; 5xx, 429 and network
// failures are retried; any other answer is final.
type SMSSender struct {
	base, key string
	http      *http.Client
}

// NewSMSSender returns nil when base is empty (SMS off).
func NewSMSSender(base, key string) *SMSSender {
	if base == "" {
		return nil
	}
	return &SMSSender{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 5 * time.Second}}
}

// Send texts phone the template with params. The phone never appears in an
// error.
func (s *SMSSender) Send(ctx context.Context, phone, template string, params map[string]string) error {
	body, err := json.Marshal(map[string]any{"phone": phone, "template": template, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/send", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms: bad API base")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := s.http.Do(req)
	if err != nil {
		return transient("sms: request failed")
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return transient("sms: HTTP %d", resp.StatusCode)
	default:
		return fmt.Errorf("sms: HTTP %d", resp.StatusCode)
	}
}
