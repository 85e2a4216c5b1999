package testenv

import (
	"testing"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// WechatAccount inserts a mini-program account, bound to resident unless
// it is nil, and answers its id.
func (e *Env) WechatAccount(t testing.TB, resident *uuid.UUID) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if err := e.DB.Exec(`INSERT INTO wechat_accounts (id, openid, resident_id, bound_at)
		VALUES (?, ?, ?, CASE WHEN ?::uuid IS NULL THEN NULL ELSE now() END)`, id, "openid-"+uuid.NewString(), resident, resident).Error; err != nil {
		t.Fatal(err)
	}
	return id
}

// ProxyLink inserts an active proxy link (consented at a counter) of
// account to resident with scopes, and answers its id.
func (e *Env) ProxyLink(t testing.TB, resident, account uuid.UUID, scopes ...string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if err := e.DB.Exec(`INSERT INTO resident_proxies (id, resident_id, account_id, relation, scopes, consent_method, consent_by,
		consent_evidence, consented_at, created_at) VALUES (?, ?, ?, 'CHILD', ?, 'COUNTER', ?, '老人到场，已核验身份证', now(), now())`,
		id, resident, account, pq.StringArray(scopes), uuid.New()).Error; err != nil {
		t.Fatal(err)
	}
	return id
}

// Notifications counts the outbox rows about resident of kind (every kind
// when empty) to recipientKind and recipient (any when empty / Nil).
func (e *Env) Notifications(t testing.TB, resident uuid.UUID, kind, recipientKind string, recipient uuid.UUID) int {
	t.Helper()
	var n int
	MustScan(t, e.DB, `SELECT count(*) FROM notifications WHERE resident_id = ? AND (? = '' OR kind = ?)
		AND (? = '' OR recipient_kind = ?) AND (?::uuid = '00000000-0000-0000-0000-000000000000' OR recipient_id = ?)`,
		Args(resident, kind, kind, recipientKind, recipientKind, recipient, recipient), &n)
	return n
}

// RevokeProxyLink revokes a link as its proxy would.
func (e *Env) RevokeProxyLink(t testing.TB, link uuid.UUID) {
	t.Helper()
	if err := e.DB.Exec(`UPDATE resident_proxies SET revoked_at = now(), revoked_by = account_id, revoked_by_kind = 'PROXY'
		WHERE id = ?`, link).Error; err != nil {
		t.Fatal(err)
	}
}
