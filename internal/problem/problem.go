// Package problem holds the errors every domain returns to say what went
// wrong in terms a client can act on. Business failures are UserErrors (they
// end up in a payload's userErrors, and the mutation changed nothing);
// the sentinel errors are transport-level failures that the GraphQL error
// presenter turns into extensions.code values.
package problem

import (
	"errors"
	"fmt"
)

// Code is a UserErrorCode of the client contract.
type Code string

// The UserErrorCode values of the contract.
const (
	Invalid             Code = "INVALID"
	InvalidIDNumber     Code = "INVALID_ID_NUMBER"
	InvalidCredentials  Code = "INVALID_CREDENTIALS"
	TooManyAttempts     Code = "TOO_MANY_ATTEMPTS"
	NotFound            Code = "NOT_FOUND"
	Duplicate           Code = "DUPLICATE"
	Conflict            Code = "CONFLICT"
	NotEligible         Code = "NOT_ELIGIBLE"
	InsufficientBalance Code = "INSUFFICIENT_BALANCE"
	CategoryNotAllowed  Code = "CATEGORY_NOT_ALLOWED"
	TokenExpired        Code = "TOKEN_EXPIRED"
	TokenUsed           Code = "TOKEN_USED"
	IdempotencyMismatch Code = "IDEMPOTENCY_MISMATCH"
	InvalidTransition   Code = "INVALID_TRANSITION"
	OutOfJurisdiction   Code = "OUT_OF_JURISDICTION"
	BudgetExceeded      Code = "BUDGET_EXCEEDED"
	Settled             Code = "SETTLED"
	// WeakPassword: a new password breaks a password rule other than its
	// length (which is INVALID): it contains the username, is a run of one
	// or consecutive characters, is a well-known password, or is the
	// current one.
	WeakPassword Code = "WEAK_PASSWORD"
	// NotPermitted: the viewer's role or reach does not allow the mutation.
	// The same refusal is also a FORBIDDEN GraphQL error (extensions.code),
	// so a client may read either.
	NotPermitted Code = "FORBIDDEN"
)

// UserError is a business failure tied, where possible, to an input field.
// Messages are written for the person at the counter and never contain
// personal data.
type UserError struct {
	Code    Code
	Message string
	// Field is the path to the input at fault, e.g. ["input", "idNumber"].
	Field []string
}

func (e *UserError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// New returns a UserError on the given input field path (may be empty).
func New(code Code, message string, field ...string) *UserError {
	if field == nil {
		field = []string{}
	}
	return &UserError{Code: code, Message: message, Field: field}
}

// UserErrors is several business failures found at once (e.g. input
// validation that reports every bad field).
type UserErrors []*UserError

func (es UserErrors) Error() string {
	if len(es) == 0 {
		return "no errors"
	}
	return es[0].Error()
}

// AsUserErrors extracts the business failures from err; ok is false when err
// is not a business failure (and must be treated as a transport error).
func AsUserErrors(err error) (UserErrors, bool) {
	var many UserErrors
	if errors.As(err, &many) {
		return many, true
	}
	var one *UserError
	if errors.As(err, &one) {
		return UserErrors{one}, true
	}
	return nil, false
}

// Transport-level failures. Domains wrap them with fmt.Errorf("…: %w", …).
var (
	// ErrUnauthenticated means no valid session.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden means the viewer's role or jurisdiction does not allow it.
	ErrForbidden = errors.New("not allowed")
	// ErrBadInput means a malformed argument (bad global id, cursor, limit).
	ErrBadInput = errors.New("bad input")
	// ErrUnavailable means a dependency (Postgres, Redis) cannot be reached.
	ErrUnavailable = errors.New("service unavailable")
)

// BadInput returns an ErrBadInput with a client-safe message.
func BadInput(message string) error { return &badInput{message} }

type badInput struct{ msg string }

func (b *badInput) Error() string { return b.msg }
func (b *badInput) Unwrap() error { return ErrBadInput }

// Forbidden returns an ErrForbidden with a client-safe reason.
func Forbidden(message string) error { return &forbidden{message} }

type forbidden struct{ msg string }

func (f *forbidden) Error() string { return f.msg }
func (f *forbidden) Unwrap() error { return ErrForbidden }
