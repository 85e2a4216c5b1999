package homecare

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/auth"
)

// TestPINHashes: a PIN is hashed at the PIN parameters and verifies
// without the pool; a hash at the password parameters (a card issued
// before) still verifies, through the pool, and a right PIN answers its
// upgrade at the PIN parameters; a wrong one none.
func TestPINHashes(t *testing.T) {
	ctx := context.Background()
	s := &Service{hashes: auth.NewHashPool(1, time.Second)}
	h, err := hashPIN("258147")
	if err != nil {
		t.Fatal(err)
	}
	if !lightPIN(h) || !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PIN hash %s", h)
	}
	if ok, up, err := s.verifyPIN(ctx, h, "258147"); err != nil || !ok || up != "" {
		t.Fatalf("light hash, right PIN: %v %q %v", ok, up, err)
	}
	if ok, _, err := s.verifyPIN(ctx, h, "258148"); err != nil || ok {
		t.Fatalf("light hash, wrong PIN: %v %v", ok, err)
	}
	old, err := auth.HashPassword("258147")
	if err != nil {
		t.Fatal(err)
	}
	if lightPIN(old) {
		t.Fatal("a password-strength hash taken for a PIN hash")
	}
	if ok, up, err := s.verifyPIN(ctx, old, "258148"); err != nil || ok || up != "" {
		t.Fatalf("old hash, wrong PIN: %v %q %v", ok, up, err)
	}
	ok, up, err := s.verifyPIN(ctx, old, "258147")
	if err != nil || !ok || !lightPIN(up) {
		t.Fatalf("old hash, right PIN: %v %q %v", ok, up, err)
	}
	if ok, err := auth.VerifyPassword(up, "258147"); err != nil || !ok {
		t.Fatalf("the upgrade does not verify: %v %v", ok, err)
	}
	// A busy pool refuses an old hash's verification instead of queueing.
	release, err := s.hashes.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	s.hashes = auth.NewHashPool(1, 10*time.Millisecond)
	r2, _ := s.hashes.Acquire(ctx)
	defer r2()
	if _, _, err := s.verifyPIN(ctx, old, "258147"); err == nil {
		t.Fatal("a full pool verified an old hash")
	}
}
