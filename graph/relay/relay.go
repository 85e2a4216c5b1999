// Package relay holds the Relay conventions of the API: opaque global IDs
// ("Type:uuid", base64url) that node(id:) resolves for every Node type.
package relay

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/problem"
)

// Node is any object with a global ID. The domain structs bound to Node
// types satisfy it trivially; the ID itself is produced by the resolvers.
type Node interface{}

// ID returns the global ID of the object of type typ with primary key id.
func ID(typ string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + id.String()))
}

// Parse decodes a global ID into its type and primary key. Anything
// malformed is a BAD_USER_INPUT error that does not echo the input.
func Parse(gid string) (typ string, id uuid.UUID, err error) {
	if len(gid) > 128 {
		return "", uuid.Nil, problem.BadInput("invalid id")
	}
	b, err := base64.RawURLEncoding.DecodeString(gid)
	if err != nil {
		return "", uuid.Nil, problem.BadInput("invalid id")
	}
	typ, raw, ok := strings.Cut(string(b), ":")
	if !ok || typ == "" {
		return "", uuid.Nil, problem.BadInput("invalid id")
	}
	id, err = uuid.Parse(raw)
	// Only the canonical form is an id: the base64 decoder skips line
	// breaks and uuid.Parse takes upper-case hex, so one object would
	// otherwise have many ids.
	if err != nil || ID(typ, id) != gid {
		return "", uuid.Nil, problem.BadInput("invalid id")
	}
	return typ, id, nil
}

// ParseAs decodes a global ID that must be of type typ.
func ParseAs(typ, gid string) (uuid.UUID, error) {
	t, id, err := Parse(gid)
	if err != nil {
		return uuid.Nil, err
	}
	if t != typ {
		return uuid.Nil, problem.BadInput("id is not a " + typ)
	}
	return id, nil
}

// ParseOptional decodes an optional global ID of type typ.
func ParseOptional(typ string, gid *string) (*uuid.UUID, error) {
	if gid == nil {
		return nil, nil
	}
	id, err := ParseAs(typ, *gid)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// ParseAll decodes global IDs that must all be of type typ.
func ParseAll(typ string, gids []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(gids))
	for i, g := range gids {
		id, err := ParseAs(typ, g)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}
