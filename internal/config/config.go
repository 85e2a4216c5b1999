// Package config reads the service's configuration from the environment.
// The variable names and defaults are part of the deployment contract
// (DESIGN.md, "Configuration and commands").
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jinjiang/residents/internal/clientaddr"
)

// Development defaults for the secrets. They are public (they are in this
// file), which is why production refuses to start without real ones.
const (
	devJWTKey    = "ZGV2LW9ubHktand0LXNpZ25pbmcta2V5LTMyYnl0ZXM="      // "dev-only-jwt-signing-key-32bytes"
	devPIIKeys   = "dev1:ZGV2LW9ubHktcGlpLWVuY3J5cHRpb24ta2V5LTMyYnk=" // "dev-only-pii-encryption-key-32by"
	devIndexKey  = "ZGV2LW9ubHktcGlpLWJsaW5kLWluZGV4LWtleS0zMmI="      // "dev-only-pii-blind-index-key-32b"
	devWechatApp = "wx-dev-appid"
	devWechatSec = "wx-dev-secret"
	// devWebhookSecret signs outbound-call requests outside production.
	devWebhookSecret = "telephony-webhook-development-secret-0001"
)

// Config is the whole typed configuration.
type Config struct {
	Env      string
	HTTPAddr string
	// MetricsAddr, when set, serves /metrics on its own listener; the only
	// place production serves it (development also serves it on HTTPAddr).
	MetricsAddr string
	// PprofAddr, when set, serves net/http/pprof on its own listener (off by
	// default; bind it to loopback: profiles reveal code paths and timings).
	PprofAddr           string
	DatabaseURL         string
	DatabaseReplicaURLs []string
	RedisURL            string
	// RedisAddrs and RedisMasterName select a Sentinel (master name set) or
	// Cluster deployment through go-redis's universal client.
	RedisAddrs      []string
	RedisMasterName string
	// DatabaseSimpleProtocol is for PgBouncer in transaction mode.
	DatabaseSimpleProtocol bool
	// RedisKeyPrefix namespaces every Redis key (tests give each package its own).
	RedisKeyPrefix    string
	JWTSigningKey     []byte
	PIIEncryptionKeys string
	PIIIndexKey       []byte
	WechatAppID       string
	WechatAppSecret   string
	WechatAPIBase     string
	SeedAdminPassword string

	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// RedemptionTokenMaxValidity bounds the validity createRedemptionToken
	// may ask for (REDEMPTION_TOKEN_MAX_VALIDITY, 5m to 24h, default 8h): a
	// slip printed at the counter for an elder without a phone lasts the
	// day's visits; the mini-program's QR code keeps the 5-minute default.
	RedemptionTokenMaxValidity time.Duration
	// DBMaxConns bounds the Postgres pool; requests wait at most DBAcquireTimeout for a connection.
	DBMaxConns         int
	DBStatementTimeout time.Duration
	RequestTimeout     time.Duration
	// AllowedOrigins lists the websocket origins accepted besides same-host ones.
	AllowedOrigins []string
	// WSMaxPerSession and WSMaxPerUser cap the websockets open at once, per
	// session and per user (all their sessions), across instances.
	WSMaxPerSession int
	WSMaxPerUser    int
	// WechatMaxBindings is how many mini-program accounts one resident's
	// record may have bound at once (WECHAT_MAX_BINDINGS_PER_RESIDENT).
	WechatMaxBindings int
	// ManualIntakePerHour bounds the calls one operator may take in by hand
	// per hour (EMERGENCY_MANUAL_INTAKE_PER_HOUR): each typed-in caller
	// number is a look-up in the registry's phone index.
	ManualIntakePerHour int
	// RevealsPerHour bounds the full numbers one operator may reveal per
	// hour during open calls (EMERGENCY_REVEALS_PER_HOUR).
	RevealsPerHour int
	// TelephonyWebhookURL is where outbound-call requests are POSTed to the
	// telephony system (TELEPHONY_WEBHOOK_URL; empty: requests wait in the
	// outbox), signed with HMAC-SHA256 under TelephonyWebhookSecret
	// (TELEPHONY_WEBHOOK_SECRET).
	TelephonyWebhookURL    string
	TelephonyWebhookSecret string
	// DeviceScanInterval is how often the technical-alarm job looks for
	// silent and flat devices (EMERGENCY_DEVICE_SCAN_INTERVAL).
	DeviceScanInterval time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed for
	// the client address (TRUSTED_PROXY_CIDRS; empty: nobody's).
	TrustedProxies []netip.Prefix
	// LoginHashConcurrency bounds the argon2id computations running at
	// once (LOGIN_HASH_CONCURRENCY; default 2×GOMAXPROCS: argon2 runs one
	// lane, a core each, so the worst case stays at 2×GOMAXPROCS×19 MiB).
	LoginHashConcurrency int
	// LoginRatePerMinute is the overall sign-in rate, all instances and
	// clients together (LOGIN_RATE).
	LoginRatePerMinute int64
	// WechatLoginRatePerMinute is the overall wechatLogin rate, all
	// instances together, kept under the mini-program's code2Session quota
	// (WECHAT_LOGIN_RATE).
	WechatLoginRatePerMinute int64
	// RunChunkSize is how many residents one chunk (one transaction) of a
	// bulk run (issuance, enrollment) goes through.
	RunChunkSize int
	// RunLease is how long a bulk run stays with the instance driving it
	// without a committed chunk before another instance may take it over.
	RunLease time.Duration
	// NoticeFontPath is the TrueType font with Chinese glyphs the written
	// notices (PDF) are set in (NOTICE_FONT_PATH); the default is where
	// Debian's fonts-droid-fallback installs it.
	NoticeFontPath string
	// WechatTemplates is WECHAT_TEMPLATES, "event:templateId,…" (the events
	// are notify.Kind values; notify.ParseTemplates validates it).
	WechatTemplates string
	// SMSAPIBase and SMSAPIKey are the SMS gateway (SMS_API_BASE empty: SMS off).
	SMSAPIBase string
	SMSAPIKey  string
	// NotifyPoll is how often an idle notification dispatcher looks for
	// due messages (NOTIFY_POLL); zero runs no dispatcher (tests that
	// drive one themselves).
	NotifyPoll time.Duration
}

// DefaultNoticeFont is NOTICE_FONT_PATH's default: Debian's fonts-droid-fallback.
const DefaultNoticeFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// isDevSecret reports whether v is, or (for a key list) contains, one of
// the development secrets above, under any key id.
func isDevSecret(v string) bool {
	dev := map[string]bool{devJWTKey: true, devIndexKey: true, devWechatApp: true, devWechatSec: true}
	for _, pair := range strings.Split(devPIIKeys, ",") {
		_, material, _ := strings.Cut(pair, ":")
		dev[material] = true
	}
	if dev[v] {
		return true
	}
	for _, pair := range strings.Split(v, ",") {
		if _, material, ok := strings.Cut(strings.TrimSpace(pair), ":"); ok && dev[strings.TrimSpace(material)] {
			return true
		}
	}
	return false
}

// Production reports whether the service runs in production.
func (c Config) Production() bool { return c.Env == "production" }

// Development reports whether the service runs in development.
func (c Config) Development() bool { return c.Env == "development" }

// LogValue masks every secret when the config is logged.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("pprof_addr", c.PprofAddr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.Int("database_replicas", len(c.DatabaseReplicaURLs)),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("jwt_signing_key", "***"),
		slog.String("pii_encryption_keys", "***"),
		slog.String("pii_index_key", "***"),
		slog.String("wechat_app_id", c.WechatAppID),
		slog.String("wechat_api_base", c.WechatAPIBase),
		slog.Int("trusted_proxy_cidrs", len(c.TrustedProxies)),
		slog.Int("login_hash_concurrency", c.LoginHashConcurrency),
		slog.Int("run_chunk_size", c.RunChunkSize),
		slog.Duration("run_lease", c.RunLease),
		slog.String("notice_font_path", c.NoticeFontPath),
		slog.String("telephony_webhook_url", redactURL(c.TelephonyWebhookURL)),
		slog.String("telephony_webhook_secret", "***"),
		slog.String("sms_api_base", c.SMSAPIBase),
		slog.String("sms_api_key", "***"),
		slog.Duration("notify_poll", c.NotifyPoll),
	)
}

func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":***" + u[at:]
	}
	return u
}

// Load reads the configuration through getenv and validates it. In
// production every secret must be set and well-formed; an error names the
// variable at fault (never its value).
func Load(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Env:                        get("APP_ENV", "development"),
		HTTPAddr:                   get("HTTP_ADDR", ":8080"),
		PprofAddr:                  get("PPROF_ADDR", ""),
		MetricsAddr:                get("METRICS_ADDR", ""),
		DatabaseURL:                get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/residents?sslmode=disable"),
		RedisURL:                   get("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisKeyPrefix:             get("REDIS_KEY_PREFIX", "rs:"),
		WechatAPIBase:              strings.TrimRight(get("WECHAT_API_BASE", "https://api.weixin.qq.com"), "/"),
		AccessTokenTTL:             15 * time.Minute,
		RefreshTokenTTL:            30 * 24 * time.Hour,
		DBMaxConns:                 20,
		DBStatementTimeout:         10 * time.Second,
		RequestTimeout:             15 * time.Second,
		WSMaxPerSession:            5,
		WSMaxPerUser:               20,
		WechatMaxBindings:          3,
		ManualIntakePerHour:        60,
		RevealsPerHour:             10,
		DeviceScanInterval:         time.Minute,
		RedemptionTokenMaxValidity: 8 * time.Hour,

		LoginHashConcurrency:     2 * runtime.GOMAXPROCS(0),
		LoginRatePerMinute:       600,
		WechatLoginRatePerMinute: 1000,
		RunChunkSize:             10000,
		RunLease:                 30 * time.Second,
		NoticeFontPath:           get("NOTICE_FONT_PATH", DefaultNoticeFont),
		WechatTemplates:          get("WECHAT_TEMPLATES", ""),
		SMSAPIBase:               strings.TrimRight(get("SMS_API_BASE", ""), "/"),
		NotifyPoll:               2 * time.Second,
	}
	switch c.Env {
	case "development", "production", "test":
	default:
		return Config{}, fmt.Errorf("APP_ENV must be development, test or production")
	}
	if v := getenv("DATABASE_REPLICA_URLS"); v != "" {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.DatabaseReplicaURLs = append(c.DatabaseReplicaURLs, u)
			}
		}
	}
	if v := getenv("REDIS_ADDRS"); v != "" {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.RedisAddrs = append(c.RedisAddrs, a)
			}
		}
	}
	c.RedisMasterName = strings.TrimSpace(getenv("REDIS_MASTER_NAME"))
	c.DatabaseSimpleProtocol = getenv("DATABASE_SIMPLE_PROTOCOL") == "true"
	if v := getenv("ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	var errs []error
	secret := func(name, def string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			if c.Production() {
				errs = append(errs, fmt.Errorf("%s must be set in production", name))
			}
			return def
		}
		if c.Production() && isDevSecret(v) {
			errs = append(errs, fmt.Errorf("%s must not be a development value (they are public, in the source) in production", name))
		}
		return v
	}
	key32 := func(name, def string) []byte {
		raw := secret(name, def)
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s must be base64 of 32 bytes", name))
			return nil
		}
		return b
	}
	c.JWTSigningKey = key32("JWT_SIGNING_KEY", devJWTKey)
	c.PIIIndexKey = key32("PII_INDEX_KEY", devIndexKey)
	c.PIIEncryptionKeys = secret("PII_ENCRYPTION_KEYS", devPIIKeys)
	if err := validKeyList(c.PIIEncryptionKeys); err != nil {
		errs = append(errs, err)
	}
	c.WechatAppID = secret("WECHAT_APP_ID", devWechatApp)
	c.WechatAppSecret = secret("WECHAT_APP_SECRET", devWechatSec)
	if c.SMSAPIBase != "" {
		c.SMSAPIKey = secret("SMS_API_KEY", "")
		if c.SMSAPIKey == "" {
			errs = append(errs, errors.New("SMS_API_KEY must be set when SMS_API_BASE is"))
		}
	}
	if v := getenv("NOTIFY_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Minute {
			errs = append(errs, errors.New("NOTIFY_POLL must be a duration between 100ms and 1m"))
		} else {
			c.NotifyPoll = d
		}
	}
	c.SeedAdminPassword = secret("SEED_ADMIN_PASSWORD", "admin-dev-password")
	if c.Production() && c.SeedAdminPassword == "admin-dev-password" {
		errs = append(errs, errors.New("SEED_ADMIN_PASSWORD must not be the development password in production"))
	}
	if v := getenv("ACCESS_TOKEN_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			errs = append(errs, errors.New("ACCESS_TOKEN_TTL must be a duration between 1m and 24h"))
		} else {
			c.AccessTokenTTL = d
		}
	}
	if v := getenv("REDEMPTION_TOKEN_MAX_VALIDITY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Minute || d > 24*time.Hour {
			errs = append(errs, errors.New("REDEMPTION_TOKEN_MAX_VALIDITY must be a duration between 5m and 24h"))
		} else {
			c.RedemptionTokenMaxValidity = d
		}
	}
	if v := getenv("DB_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 500 {
			errs = append(errs, errors.New("DB_MAX_CONNS must be an integer between 2 and 500"))
		} else {
			c.DBMaxConns = n
		}
	}
	positive := func(name string, lo, hi int64, set func(int64)) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s must be an integer between %d and %d", name, lo, hi))
			return
		}
		set(n)
	}
	positive("WS_MAX_PER_SESSION", 1, 1000, func(n int64) { c.WSMaxPerSession = int(n) })
	positive("WS_MAX_PER_USER", 1, 1000, func(n int64) { c.WSMaxPerUser = int(n) })
	if c.WSMaxPerUser < c.WSMaxPerSession {
		errs = append(errs, errors.New("WS_MAX_PER_USER must not be below WS_MAX_PER_SESSION"))
	}
	if v := getenv("TRUSTED_PROXY_CIDRS"); strings.TrimSpace(v) != "" {
		p, err := clientaddr.ParseCIDRs(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("TRUSTED_PROXY_CIDRS must be comma-separated CIDRs: %w", err))
		case c.Production() && coversEveryone(p):
			// Trusting every peer would let any client name its own
			// address and walk past every per-client limit.
			errs = append(errs, errors.New("TRUSTED_PROXY_CIDRS must not trust every address (/0) in production: name the load balancers' ranges"))
		default:
			c.TrustedProxies = p
		}
	}
	positive("LOGIN_HASH_CONCURRENCY", 1, 256, func(n int64) { c.LoginHashConcurrency = int(n) })
	positive("LOGIN_RATE", 1, 1_000_000, func(n int64) { c.LoginRatePerMinute = n })
	positive("WECHAT_LOGIN_RATE", 1, 1_000_000, func(n int64) { c.WechatLoginRatePerMinute = n })
	positive("WECHAT_MAX_BINDINGS_PER_RESIDENT", 1, 20, func(n int64) { c.WechatMaxBindings = int(n) })
	positive("EMERGENCY_MANUAL_INTAKE_PER_HOUR", 1, 10000, func(n int64) { c.ManualIntakePerHour = int(n) })
	positive("EMERGENCY_REVEALS_PER_HOUR", 1, 1000, func(n int64) { c.RevealsPerHour = int(n) })
	if v := getenv("EMERGENCY_DEVICE_SCAN_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			errs = append(errs, errors.New("EMERGENCY_DEVICE_SCAN_INTERVAL must be a duration between 1s and 1h"))
		} else {
			c.DeviceScanInterval = d
		}
	}
	c.TelephonyWebhookURL = strings.TrimSpace(getenv("TELEPHONY_WEBHOOK_URL"))
	if u := c.TelephonyWebhookURL; u != "" && !strings.HasPrefix(u, "https://") && !(strings.HasPrefix(u, "http://") && !c.Production()) {
		errs = append(errs, errors.New("TELEPHONY_WEBHOOK_URL must be an https:// URL (http:// only outside production)"))
	}
	c.TelephonyWebhookSecret = strings.TrimSpace(getenv("TELEPHONY_WEBHOOK_SECRET"))
	switch {
	case c.TelephonyWebhookSecret == "" && c.TelephonyWebhookURL != "" && c.Production():
		errs = append(errs, errors.New("TELEPHONY_WEBHOOK_SECRET must be set in production when TELEPHONY_WEBHOOK_URL is"))
	case c.TelephonyWebhookSecret == "":
		c.TelephonyWebhookSecret = devWebhookSecret
	case len(c.TelephonyWebhookSecret) < 32:
		errs = append(errs, errors.New("TELEPHONY_WEBHOOK_SECRET must be at least 32 characters"))
	case c.Production() && c.TelephonyWebhookSecret == devWebhookSecret:
		errs = append(errs, errors.New("TELEPHONY_WEBHOOK_SECRET must not be the development value in production"))
	}
	positive("RUN_CHUNK_SIZE", 1, 100000, func(n int64) { c.RunChunkSize = int(n) })
	if v := getenv("RUN_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second || d > time.Hour {
			errs = append(errs, errors.New("RUN_LEASE must be a duration between 5s and 1h"))
		} else {
			c.RunLease = d
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func coversEveryone(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Bits() == 0 {
			return true
		}
	}
	return false
}

// validKeyList checks the "id:base64,id:base64" format of PII_ENCRYPTION_KEYS
// without echoing any key.
func validKeyList(s string) error {
	bad := errors.New("PII_ENCRYPTION_KEYS must be comma-separated id:base64 pairs of 32-byte keys")
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		id, k, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" || seen[id] {
			return bad
		}
		seen[id] = true
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 32 {
			return bad
		}
	}
	return nil
}
