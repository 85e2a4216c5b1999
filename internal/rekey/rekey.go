// Package rekey moves ciphertexts to the primary PII key after a key
// rotation (the `reencrypt` command). Each domain that encrypts a column
// lists it (its EncryptedColumns); the app hands the union to Run, and a
// test compares that union with every *_enc column of the schema, so a new
// encrypted column cannot be left under a key that is about to be removed.
package rekey

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
)

// Column is one encrypted column: its table, the key its rows are walked
// by (keyset order: the table's single-column primary key, or for a small
// staging table a text expression unique per row, unindexed), its name
// and the purpose (associated data) its values were encrypted with. Names
// are constants of the domains, never input.
type Column struct {
	Table, Key, Name, Purpose string
}

// batch is the number of rows re-encrypted per transaction.
const batch = 500

// Run re-encrypts, table by table, every value of cols not under the
// primary key, in keyset-ordered batches each its own transaction, and
// returns how many rows changed. Blind indexes do not change (they use the
// separate index key). Safe to rerun and to run while serving: a row
// written meanwhile is written under the primary key already.
func Run(ctx context.Context, db *gorm.DB, keys *pii.Keyring, cols []Column) (int, error) {
	probe, err := keys.Encrypt("", "probe")
	if err != nil {
		return 0, err
	}
	prefix := policy.LikePrefix(probe[:strings.LastIndex(probe, ":")+1])
	var tables []string
	byTable := map[string][]Column{}
	for _, c := range cols {
		if _, ok := byTable[c.Table]; !ok {
			tables = append(tables, c.Table)
		}
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	total := 0
	for _, t := range tables {
		n, err := table(ctx, db, keys, prefix, byTable[t])
		total += n
		if err != nil {
			return total, database.Classify(fmt.Errorf("rekey %s: %w", t, err))
		}
	}
	return total, nil
}

// table re-encrypts cols, all of one table with one key column.
func table(ctx context.Context, db *gorm.DB, keys *pii.Keyring, prefix string, cols []Column) (int, error) {
	tbl, key := cols[0].Table, cols[0].Key
	var conds []string
	var args []any
	sel := "(" + key + ")::text"
	for _, c := range cols {
		if c.Key != key {
			return 0, fmt.Errorf("columns of %s name two keys, %s and %s", tbl, key, c.Key)
		}
		conds = append(conds, "("+c.Name+" IS NOT NULL AND "+c.Name+" NOT LIKE ?)")
		args = append(args, prefix)
		sel += ", " + c.Name
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	total := 0
	after := ""
	for {
		q := db.WithContext(ctx).Table(tbl).Select(sel).Where(where, args...)
		if after != "" {
			q = q.Where("("+key+")::text > ?", after)
		}
		rows, err := q.Order("(" + key + ")::text").Limit(batch).Rows()
		if err != nil {
			return total, err
		}
		type item struct {
			id   string
			vals []*string
		}
		var items []item
		for rows.Next() {
			it := item{vals: make([]*string, len(cols))}
			dest := []any{&it.id}
			for i := range cols {
				dest = append(dest, &it.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return total, err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		if len(items) == 0 {
			return total, nil
		}
		err = database.Tx(ctx, db, func(tx *gorm.DB) error {
			for _, it := range items {
				upd := map[string]any{}
				for i, c := range cols {
					if it.vals[i] == nil {
						continue
					}
					kid, err := keys.KeyID(*it.vals[i])
					if err != nil {
						return fmt.Errorf("row %s column %s: %w", it.id, c.Name, err)
					}
					if kid == keys.PrimaryKeyID() {
						continue
					}
					plain, err := keys.Decrypt(*it.vals[i], c.Purpose)
					if err != nil {
						return fmt.Errorf("row %s column %s: %w", it.id, c.Name, err)
					}
					if upd[c.Name], err = keys.Encrypt(plain, c.Purpose); err != nil {
						return err
					}
				}
				if len(upd) == 0 {
					continue
				}
				if err := tx.WithContext(ctx).Table(tbl).Where("("+key+")::text = ?", it.id).Updates(upd).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(items)
		after = items[len(items)-1].id
	}
}
