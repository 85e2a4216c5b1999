// Package database opens the Postgres pool behind GORM, runs transactions
// with retries on serialization failures, and tells a dead database apart
// from a bad query so clients get SERVICE_UNAVAILABLE, not INTERNAL.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/jinjiang/residents/internal/problem"
)

// Options sizes the pool and its timeouts explicitly.
type Options struct {
	MaxConns         int
	StatementTimeout time.Duration
	Logger           *slog.Logger
	// ReplicaURLs are streaming replicas: reads outside transactions and
	// outside mutations go there (gorm.io/plugin/dbresolver).
	ReplicaURLs []string
	// SimpleProtocol uses the simple query protocol (no server-side
	// prepared statements), as PgBouncer in transaction mode requires.
	SimpleProtocol bool
}

// Open connects to url and returns a GORM handle over a bounded pgx pool,
// with reads routed to replicas when there are any.
func Open(ctx context.Context, dsn string, opt Options) (*gorm.DB, error) {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 20
	}
	sqlDB, err := openPool(ctx, dsn, opt)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	if len(opt.ReplicaURLs) > 0 {
		var replicas []gorm.Dialector
		for i, u := range opt.ReplicaURLs {
			r, err := openPool(ctx, u, opt)
			if err != nil {
				sqlDB.Close()
				return nil, fmt.Errorf("database: replica %d: %w", i+1, err)
			}
			replicas = append(replicas, postgres.New(postgres.Config{Conn: r}))
		}
		if err := db.Use(dbresolver.Register(dbresolver.Config{Replicas: replicas, Policy: dbresolver.RandomPolicy{}})); err != nil {
			return nil, fmt.Errorf("database: replicas: %w", err)
		}
		// The pin must run before dbresolver's callback. Both sit before
		// "*", where GORM puts the later registration first.
		if err := registerPrimaryPin(db); err != nil {
			return nil, err
		}
	}
	return db, nil
}

func openPool(ctx context.Context, dsn string, opt Options) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: parse database URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if opt.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.RuntimeParams["application_name"] = "residents"
	if opt.SimpleProtocol {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	sqlDB := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(encodeUUIDsAsBytes))
	sqlDB.SetMaxOpenConns(opt.MaxConns)
	sqlDB.SetMaxIdleConns(opt.MaxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(time.Hour)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("database: ping: %w", err)
	}
	return sqlDB, nil
}

// encodeUUIDsAsBytes makes each connection send a uuid.UUID parameter as
// the 16 bytes it is. Left to its driver.Valuer, pgx formats it as a
// string, tries that in the binary format first, fails (formatting an error
// message with fmt), then formats it again as text: per parameter, so every
// `id IN ?` of a page of 100 paid it 100 times. A value the wrapped form
// cannot encode still falls back to the Valuer.
func encodeUUIDsAsBytes(_ context.Context, c *pgx.Conn) error {
	m := c.TypeMap()
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUID}, m.TryWrapEncodePlanFuncs...)
	return nil
}

func tryWrapUUID(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if u, ok := value.(uuid.UUID); ok {
		return &uuidBytesPlan{}, [16]byte(u), true
	}
	return nil, nil, false
}

type uuidBytesPlan struct{ next pgtype.EncodePlan }

func (p *uuidBytesPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidBytesPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode([16]byte(value.(uuid.UUID)), buf)
}

type primaryKey struct{}

// WithPrimary pins every statement under ctx to the primary: a mutation
// reads its own writes, including the payload's nested fields resolved
// after its transaction committed.
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

// dbresolver's own setting key for "use the source"; see its clauses.go.
const dbresolverWrite = "gorm:db_resolver:write"

func registerPrimaryPin(db *gorm.DB) error {
	pin := func(tx *gorm.DB) {
		if ctx := tx.Statement.Context; ctx != nil && ctx.Value(primaryKey{}) != nil {
			tx.Statement.Settings.Store(dbresolverWrite, true)
		}
	}
	if err := db.Callback().Query().Before("*").Register("residents:pin_primary", pin); err != nil {
		return err
	}
	if err := db.Callback().Row().Before("*").Register("residents:pin_primary", pin); err != nil {
		return err
	}
	return db.Callback().Raw().Before("*").Register("residents:pin_primary", pin)
}

// EnsureExists creates the database named in dsn when it is missing
// (development convenience: one command gives a working server).
func EnsureExists(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return nil
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("database: connect to create %q: %w", name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("database: create %q: %w", name, err)
	}
	return nil
}

// SQL returns the *sql.DB under a GORM handle.
func SQL(db *gorm.DB) *sql.DB {
	s, err := db.DB()
	if err != nil {
		panic(err) // only when db was not built by Open
	}
	return s
}

type txKey struct{}

// Tx runs fn in one transaction. A serialization failure or deadlock is
// retried (see Retry) so that concurrent writers never see the database's
// own conflict resolution as an error. Nested calls join the outer
// transaction.
func Tx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	if outer, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(outer)
	}
	return Retry(ctx, func() error {
		return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(tx.WithContext(context.WithValue(ctx, txKey{}, tx)))
		})
	})
}

// Retry runs fn, a transaction or a single autocommit statement, again
// after a serialization failure or deadlock, up to 5 times with jittered
// backoff.
func Retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		err = fn()
		if !retryable(err) {
			return Classify(err)
		}
		backoff := time.Duration(attempt+1) * time.Duration(2+time.Now().UnixNano()%8) * time.Millisecond
		select {
		case <-ctx.Done():
			return Classify(ctx.Err())
		case <-time.After(backoff):
		}
	}
	return Classify(err)
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// Classify turns connection-level failures into problem.ErrUnavailable and
// leaves every other error as it is.
func Classify(err error) error {
	if err == nil || errors.Is(err, problem.ErrUnavailable) {
		return err
	}
	if Unavailable(err) {
		return fmt.Errorf("%w: %w", problem.ErrUnavailable, err)
	}
	return err
}

// Unavailable reports whether err means the database cannot be reached or
// is shutting down, rather than a problem with the statement.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, crash, cannot connect now
			pgErr.Code == "53300", // too many connections
			pgErr.Code == "57014": // statement timeout / cancelled
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, pgx.ErrTxClosed):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "driver: bad connection")
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// and of which constraint.
func IsUniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// IsLockTimeout reports whether err is a lock wait that ran out
// (lock_timeout): someone else held the row; trying again later is the answer.
func IsLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// IsCheckViolation reports whether err is a CHECK violation, and of which constraint.
func IsCheckViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// IsForeignKeyViolation reports whether err is a foreign-key violation, and of which constraint.
func IsForeignKeyViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// UUIDs is ids as one Postgres uuid[] parameter of 16-byte elements, for
// "col = ANY(?)". GORM expands a plain slice into one parameter per
// element: a page of 100 ids cost 100 driver.Valuer conversions and a new
// statement text for every distinct batch size.
func UUIDs(ids []uuid.UUID) pgtype.Array[[16]byte] {
	el := make([][16]byte, len(ids))
	for i, id := range ids {
		el[i] = id
	}
	return pgtype.Array[[16]byte]{Elements: el, Dims: []pgtype.ArrayDimension{{Length: int32(len(el)), LowerBound: 1}}, Valid: true}
}

// Exclusively runs fn on one connection while it holds the session
// advisory lock key. When another session holds the lock it returns
// ran = false at once, without running fn: a job every instance starts
// periodically then runs on one at a time. The lock is given back when fn
// returns (and by Postgres if the process dies).
func Exclusively(ctx context.Context, db *gorm.DB, key int64, fn func(conn *sql.Conn) error) (ran bool, err error) {
	conn, err := SQL(db).Conn(ctx)
	if err != nil {
		return false, Classify(err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, Classify(err)
	}
	if !got {
		return false, nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) //nolint:errcheck // closing the conn ends the session's locks too
	return true, fn(conn)
}
