package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const key32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestDevelopmentDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != "development" || c.HTTPAddr != ":8080" || len(c.JWTSigningKey) != 32 || len(c.PIIIndexKey) != 32 ||
		c.WechatAPIBase != "https://api.weixin.qq.com" || c.SeedAdminPassword != "admin-dev-password" ||
		c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/residents?sslmode=disable" || c.RedisURL != "redis://127.0.0.1:6379/0" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestProductionRefusesMissingOrMalformedSecrets(t *testing.T) {
	full := map[string]string{
		"APP_ENV": "production", "JWT_SIGNING_KEY": key32, "PII_ENCRYPTION_KEYS": "k2:" + key32 + ",k1:" + key32,
		"PII_INDEX_KEY": key32, "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "SEED_ADMIN_PASSWORD": "a-real-password",
	}
	if _, err := Load(env(full)); err != nil {
		t.Fatalf("complete production config refused: %v", err)
	}
	for _, name := range []string{"JWT_SIGNING_KEY", "PII_ENCRYPTION_KEYS", "PII_INDEX_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "SEED_ADMIN_PASSWORD"} {
		t.Run("missing "+name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range full {
				m[k] = v
			}
			delete(m, name)
			_, err := Load(env(m))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	malformed := map[string]string{
		"JWT_SIGNING_KEY":     "c2hvcnQ=",
		"PII_INDEX_KEY":       "not base64!",
		"PII_ENCRYPTION_KEYS": "nokeyid",
		"SEED_ADMIN_PASSWORD": "admin-dev-password",
	}
	for name, bad := range malformed {
		t.Run("malformed "+name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range full {
				m[k] = v
			}
			m[name] = bad
			_, err := Load(env(m))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), bad) && name != "SEED_ADMIN_PASSWORD" {
				t.Fatalf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestSecretsAreMaskedWhenLogged(t *testing.T) {
	c, _ := Load(env(map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/x", "JWT_SIGNING_KEY": key32}))
	s := c.LogValue().String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, key32) {
		t.Fatalf("secret in log value: %s", s)
	}
}

// TestProductionRefusesDevelopmentSecrets: the development values are in
// this repository, so production refuses each of them, under any variable
// and, in the PII key list, under any key id.
func TestProductionRefusesDevelopmentSecrets(t *testing.T) {
	full := map[string]string{
		"APP_ENV": "production", "JWT_SIGNING_KEY": key32, "PII_ENCRYPTION_KEYS": "k1:" + key32,
		"PII_INDEX_KEY": key32, "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "SEED_ADMIN_PASSWORD": "a-real-password",
	}
	_, devPII, _ := strings.Cut(devPIIKeys, ":")
	cases := map[string]string{
		"JWT_SIGNING_KEY":     devJWTKey,
		"PII_INDEX_KEY":       devIndexKey,
		"PII_ENCRYPTION_KEYS": "prod:" + key32 + ",old:" + devPII,
		"WECHAT_APP_ID":       devWechatApp,
		"WECHAT_APP_SECRET":   devWechatSec,
	}
	for name, value := range cases {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		m[name] = value
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "development") {
			t.Errorf("%s set to the development value: %v", name, err)
		}
	}
	// The same values are fine outside production.
	m := map[string]string{}
	for name, value := range cases {
		m[name] = value
	}
	if _, err := Load(env(m)); err != nil {
		t.Errorf("development refused its own values: %v", err)
	}
}

func TestWebsocketCaps(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.WSMaxPerSession != 5 || c.WSMaxPerUser != 20 {
		t.Fatalf("defaults: %d per session, %d per user", c.WSMaxPerSession, c.WSMaxPerUser)
	}
	c, err = Load(env(map[string]string{"WS_MAX_PER_SESSION": "2", "WS_MAX_PER_USER": "3"}))
	if err != nil || c.WSMaxPerSession != 2 || c.WSMaxPerUser != 3 {
		t.Fatalf("set: %d %d %v", c.WSMaxPerSession, c.WSMaxPerUser, err)
	}
	for name, m := range map[string]map[string]string{
		"WS_MAX_PER_SESSION": {"WS_MAX_PER_SESSION": "0"},
		"WS_MAX_PER_USER":    {"WS_MAX_PER_USER": "many"},
		"WS_MAX_PER_USER ":   {"WS_MAX_PER_SESSION": "10", "WS_MAX_PER_USER": "4"},
	} {
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%v: err = %v", m, err)
		}
	}
}

func TestLimitsAreBoundedIntegers(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.WechatMaxBindings != 3 || c.ManualIntakePerHour != 60 {
		t.Fatalf("defaults: %d, %d, %v", c.WechatMaxBindings, c.ManualIntakePerHour, err)
	}
	c, err = Load(env(map[string]string{"WECHAT_MAX_BINDINGS_PER_RESIDENT": "5", "EMERGENCY_MANUAL_INTAKE_PER_HOUR": "120"}))
	if err != nil || c.WechatMaxBindings != 5 || c.ManualIntakePerHour != 120 {
		t.Fatalf("set: %d, %d, %v", c.WechatMaxBindings, c.ManualIntakePerHour, err)
	}
	for name, v := range map[string]string{"WECHAT_MAX_BINDINGS_PER_RESIDENT": "0", "EMERGENCY_MANUAL_INTAKE_PER_HOUR": "lots"} {
		if _, err := Load(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
}

func TestLoginLimitsConfig(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 0 || c.LoginHashConcurrency < 2 || c.LoginRatePerMinute <= 0 || c.WechatLoginRatePerMinute <= 0 {
		t.Fatalf("defaults: trusted %v, pool %d, rates %d %d", c.TrustedProxies, c.LoginHashConcurrency, c.LoginRatePerMinute, c.WechatLoginRatePerMinute)
	}
	c, err = Load(env(map[string]string{"TRUSTED_PROXY_CIDRS": "10.0.0.0/8, 127.0.0.1", "LOGIN_HASH_CONCURRENCY": "3",
		"LOGIN_RATE": "50", "WECHAT_LOGIN_RATE": "70"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "127.0.0.1/32" || c.LoginHashConcurrency != 3 ||
		c.LoginRatePerMinute != 50 || c.WechatLoginRatePerMinute != 70 {
		t.Fatalf("set: %+v", c)
	}
	for name, bad := range map[string]string{"TRUSTED_PROXY_CIDRS": "10.0.0.0/99", "LOGIN_HASH_CONCURRENCY": "0",
		"LOGIN_RATE": "many", "WECHAT_LOGIN_RATE": "-1"} {
		if _, err := Load(env(map[string]string{name: bad})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v", name, bad, err)
		}
	}
	prod := map[string]string{
		"APP_ENV": "production", "JWT_SIGNING_KEY": key32, "PII_ENCRYPTION_KEYS": "k1:" + key32,
		"PII_INDEX_KEY": key32, "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "SEED_ADMIN_PASSWORD": "a-real-password",
		"TRUSTED_PROXY_CIDRS": "10.0.0.0/8,0.0.0.0/0",
	}
	if _, err := Load(env(prod)); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXY_CIDRS") {
		t.Fatalf("production trusting everyone: %v", err)
	}
}

// TestRunSettings: the bulk runs' chunk size and lease, with their bounds.
func TestRunSettings(t *testing.T) {
	c, err := Load(env(nil))
	if c.NoticeFontPath != DefaultNoticeFont {
		t.Fatalf("NOTICE_FONT_PATH default: %q", c.NoticeFontPath)
	}
	if c, _ := Load(env(map[string]string{"NOTICE_FONT_PATH": "/opt/fonts/x.ttf"})); c.NoticeFontPath != "/opt/fonts/x.ttf" {
		t.Fatalf("NOTICE_FONT_PATH set: %q", c.NoticeFontPath)
	}
	if err != nil || c.RunChunkSize != 10000 || c.RunLease != 30*time.Second {
		t.Fatalf("defaults: %v %d %v", err, c.RunChunkSize, c.RunLease)
	}
	c, err = Load(env(map[string]string{"RUN_CHUNK_SIZE": "5000", "RUN_LEASE": "1m"}))
	if err != nil || c.RunChunkSize != 5000 || c.RunLease != time.Minute {
		t.Fatalf("set: %v %d %v", err, c.RunChunkSize, c.RunLease)
	}
	for k, v := range map[string]string{"RUN_CHUNK_SIZE": "0", "RUN_LEASE": "1s"} {
		if _, err := Load(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if _, err := Load(env(map[string]string{"RUN_CHUNK_SIZE": "many"})); err == nil {
		t.Error("RUN_CHUNK_SIZE=many accepted")
	}
}

func TestAlarmCenterConfig(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.RevealsPerHour != 10 || c.DeviceScanInterval != time.Minute || c.TelephonyWebhookURL != "" || c.TelephonyWebhookSecret == "" {
		t.Fatalf("defaults: %d %v %q %v", c.RevealsPerHour, c.DeviceScanInterval, c.TelephonyWebhookURL, err)
	}
	c, err = Load(env(map[string]string{"EMERGENCY_REVEALS_PER_HOUR": "3", "EMERGENCY_DEVICE_SCAN_INTERVAL": "30s",
		"TELEPHONY_WEBHOOK_URL": "http://127.0.0.1:9/hook", "TELEPHONY_WEBHOOK_SECRET": strings.Repeat("s", 32)}))
	if err != nil || c.RevealsPerHour != 3 || c.DeviceScanInterval != 30*time.Second || c.TelephonyWebhookSecret != strings.Repeat("s", 32) {
		t.Fatalf("set: %+v %v", c.RevealsPerHour, err)
	}
	for name, m := range map[string]map[string]string{
		"EMERGENCY_REVEALS_PER_HOUR":     {"EMERGENCY_REVEALS_PER_HOUR": "0"},
		"EMERGENCY_DEVICE_SCAN_INTERVAL": {"EMERGENCY_DEVICE_SCAN_INTERVAL": "2h"},
		"TELEPHONY_WEBHOOK_URL":          {"TELEPHONY_WEBHOOK_URL": "ftp://x"},
		"TELEPHONY_WEBHOOK_SECRET":       {"TELEPHONY_WEBHOOK_SECRET": "short"},
	} {
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: %v", m, err)
		}
	}
}

func TestNotificationSettings(t *testing.T) {
	c, err := Load(env(map[string]string{"SMS_API_BASE": "https://sms.example/", "SMS_API_KEY": "k", "NOTIFY_POLL": "500ms",
		"WECHAT_TEMPLATES": "ALARM_RECEIVED:abc"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMSAPIBase != "https://sms.example" || c.SMSAPIKey != "k" || c.NotifyPoll != 500*time.Millisecond || c.WechatTemplates != "ALARM_RECEIVED:abc" {
		t.Fatalf("%+v", c)
	}
	if strings.Contains(fmt.Sprint(c.LogValue()), "\"k\"") {
		t.Fatal("the SMS key was logged")
	}
	for k, v := range map[string]string{"SMS_API_BASE": "https://sms.example", "NOTIFY_POLL": "1h"} {
		if _, err := Load(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

// TestRedemptionTokenMaxValidity: a counter-printed slip may last hours,
// within bounds.
func TestRedemptionTokenMaxValidity(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.RedemptionTokenMaxValidity != 8*time.Hour {
		t.Fatalf("default: %v %v", err, c.RedemptionTokenMaxValidity)
	}
	c, err = Load(env(map[string]string{"REDEMPTION_TOKEN_MAX_VALIDITY": "12h"}))
	if err != nil || c.RedemptionTokenMaxValidity != 12*time.Hour {
		t.Fatalf("set: %v %v", err, c.RedemptionTokenMaxValidity)
	}
	for _, v := range []string{"1m", "48h", "soon"} {
		if _, err := Load(env(map[string]string{"REDEMPTION_TOKEN_MAX_VALIDITY": v})); err == nil || !strings.Contains(err.Error(), "REDEMPTION_TOKEN_MAX_VALIDITY") {
			t.Errorf("REDEMPTION_TOKEN_MAX_VALIDITY=%s: %v", v, err)
		}
	}
}
