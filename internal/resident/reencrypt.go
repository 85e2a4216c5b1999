package resident

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
)

// reencryptBatch is the number of rows re-encrypted per transaction.
const reencryptBatch = 500

// Reencrypt moves every resident and contact phone/ID-number ciphertext
// not under the primary key to it, in batches of keyset-ordered rows, and
// returns how many rows changed. Blind indexes do not change (they use the
// separate index key). Safe to rerun and to run while serving.
func (s *Service) Reencrypt(ctx context.Context) (int, error) {
	probe, err := s.keys.Encrypt("", "probe")
	if err != nil {
		return 0, err
	}
	prefix := policy.LikePrefix(probe[:strings.LastIndex(probe, ":")+1])
	n1, err := s.reencryptTable(ctx, "residents", prefix, []encColumn{{"id_number_enc", PurposeIDNumber}, {"phone_enc", PurposePhone}})
	if err != nil {
		return n1, err
	}
	n2, err := s.reencryptTable(ctx, "emergency_contacts", prefix, []encColumn{{"phone_enc", PurposeContactPhone}})
	return n1 + n2, err
}

type encColumn struct{ name, purpose string }

// reencryptTable handles one table; table and column names are constants
// of this file, never input.
func (s *Service) reencryptTable(ctx context.Context, table, prefix string, cols []encColumn) (int, error) {
	var conds []string
	var args []any
	sel := "id"
	for _, c := range cols {
		conds = append(conds, "("+c.name+" IS NOT NULL AND "+c.name+" NOT LIKE ?)")
		args = append(args, prefix)
		sel += ", " + c.name
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	total := 0
	after := uuid.Nil
	for {
		rows, err := s.db.WithContext(ctx).Table(table).Select(sel).Where(where, args...).Where("id > ?", after).
			Order("id").Limit(reencryptBatch).Rows()
		if err != nil {
			return total, database.Classify(fmt.Errorf("resident: reencrypt %s: %w", table, err))
		}
		type item struct {
			id   uuid.UUID
			vals []*string
		}
		var batch []item
		for rows.Next() {
			it := item{vals: make([]*string, len(cols))}
			dest := []any{&it.id}
			for i := range cols {
				dest = append(dest, &it.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return total, fmt.Errorf("resident: reencrypt %s: %w", table, err)
			}
			batch = append(batch, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, database.Classify(err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
			for _, it := range batch {
				upd := map[string]any{}
				for i, c := range cols {
					if it.vals[i] == nil {
						continue
					}
					kid, err := s.keys.KeyID(*it.vals[i])
					if err != nil {
						return fmt.Errorf("row %s column %s: %w", it.id, c.name, err)
					}
					if kid == s.keys.PrimaryKeyID() {
						continue
					}
					plain, err := s.keys.Decrypt(*it.vals[i], c.purpose)
					if err != nil {
						return fmt.Errorf("row %s column %s: %w", it.id, c.name, err)
					}
					if upd[c.name], err = s.keys.Encrypt(plain, c.purpose); err != nil {
						return err
					}
				}
				if len(upd) == 0 {
					continue
				}
				if err := tx.WithContext(ctx).Table(table).Where("id = ?", it.id).Updates(upd).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, database.Classify(fmt.Errorf("resident: reencrypt %s: %w", table, err))
		}
		total += len(batch)
		after = batch[len(batch)-1].id
	}
}
