package voucher

import "slices"

// The voucher and redemption state machines, written down once. Code that
// changes a status asks CanBecome; the SQL statements that change one
// (issueChunkSQL, redeem.sql, expireSQL) make only moves listed here, which
// TestStatusMovesInTable checks by recording every status the database
// writes while each path runs. docs/vouchers.md draws the same tables.

// IssuedStatus is the status a voucher is issued in.
const IssuedStatus = Active

// voucherMoves lists, per voucher status, the statuses it may become.
// ACTIVE to ACTIVE is a balance change that leaves money on the voucher.
// EXPIRED and VOIDED are final: a reversal that finds its voucher there
// gives the money back and writes it off again at once (restoreDraws).
// A life event (a death, a move out: LifeEvents) voids what is ACTIVE.
var voucherMoves = map[Status][]Status{
	Active:    {Active, Exhausted, Expired, Voided}, // redeemed (partly, fully); the expiry job; a life event
	Exhausted: {Active},                             // a reversal gives money back
}

// CanBecome reports whether a voucher in status s may be moved to status to.
func (s Status) CanBecome(to Status) bool { return slices.Contains(voucherMoves[s], to) }

// writeOff is the ledger entry that takes money back off a voucher in a
// final status when a reversal returned it there.
var writeOff = map[Status]EntryKind{Expired: Expire, Voided: Void}

// CreatedRedemption is the status a redemption is created in.
const CreatedRedemption = Completed

// redemptionMoves lists, per redemption status, the statuses it may
// become: a completed redemption may be reversed once.
var redemptionMoves = map[RedemptionStatus][]RedemptionStatus{
	Completed: {Reversed},
}

// CanBecome reports whether a redemption in status s may be moved to status to.
func (s RedemptionStatus) CanBecome(to RedemptionStatus) bool {
	return slices.Contains(redemptionMoves[s], to)
}
