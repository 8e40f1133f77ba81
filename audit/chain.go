package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/hashchain"
)

// Report is the result of checking the chain.
type Report struct {
	Records int
	// AnchorSeq is the last pruned record (0 when nothing was pruned): the check starts
	// from its hash.
	AnchorSeq int64
	LastSeq   int64
	// Links counts the records linked with each algorithm.
	Links hashchain.Tally
	// Broken names the first record that fails, or is empty.
	Broken string
}

// OK reports whether the chain verified.
func (r Report) OK() bool { return r.Broken == "" }

// String renders the report as the CLI prints it.
func (r Report) String() string {
	if !r.OK() {
		return "broken: " + r.Broken
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ok: %d audit records", r.Records)
	if r.AnchorSeq > 0 {
		fmt.Fprintf(&b, " (%d to %d; 1 to %d pruned, anchored)", r.AnchorSeq+1, r.LastSeq, r.AnchorSeq)
	}
	b.WriteString(r.Links.String())
	return b.String()
}

// Verify walks the chain from the anchor left by pruning to the head and checks each
// record's hash, its link to the one before and the sequence numbers. It stops at the
// first broken record and names it.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	return Verify(ctx, l.db)
}

// Verify checks the chain in db (see Log.Verify).
func Verify(ctx context.Context, db *gorm.DB) (Report, error) {
	var h head
	if err := db.WithContext(ctx).Where("id = 1").Take(&h).Error; err != nil {
		return Report{}, fmt.Errorf("audit verify: read chain head: %w", err)
	}
	rep := Report{AnchorSeq: h.AnchorSeq}
	prevSeq, prevHash := h.AnchorSeq, h.AnchorHash
	const batch = 1000
	for {
		var rs []Record
		err := db.WithContext(ctx).Where("seq > ?", prevSeq).Order("seq").Limit(batch).Find(&rs).Error
		if err != nil {
			return rep, fmt.Errorf("audit verify: read records after %d: %w", prevSeq, err)
		}
		for i := range rs {
			r := &rs[i]
			var problem string
			switch {
			case r.Seq != prevSeq+1:
				problem = fmt.Sprintf("sequence %d where %d was expected (records are missing)", r.Seq, prevSeq+1)
			case r.PrevHash != prevHash:
				problem = "its link to the previous record does not match"
			case !hashchain.Check(r.Hash, recordFields(r)...):
				problem = "its content does not match its hash (it was changed)"
			}
			if problem != "" {
				rep.Broken = fmt.Sprintf("audit record %d (%s by %s at %s): %s",
					r.Seq, r.Action, r.Actor, r.At.Format(time.RFC3339), problem)
				return rep, nil
			}
			rep.Records++
			rep.Links.Add(r.Hash)
			prevSeq, prevHash = r.Seq, r.Hash
		}
		if len(rs) < batch {
			break
		}
	}
	rep.LastSeq = prevSeq
	if prevSeq != h.Seq || prevHash != h.Hash {
		rep.Broken = fmt.Sprintf("the audit log ends at record %d but its head records %d (records were removed)", prevSeq, h.Seq)
	}
	return rep, nil
}

// Prune removes the records older than the retention and anchors the chain at the last
// one removed; the prune is itself recorded. It returns how many records went. Records
// are removed in one transaction, so that the anchor and the rows never disagree.
func (l *Log) Prune(ctx context.Context) (int64, error) {
	if l == nil {
		return 0, nil
	}
	before := l.opts.Now().UTC().Add(-l.opts.Retention)
	var removed int64
	var rec *Record
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		h, err := lockHead(tx)
		if err != nil {
			return err
		}
		var last Record
		err = tx.Where("at < ?", before).Order("seq DESC").Limit(1).Find(&last).Error
		if err != nil {
			return fmt.Errorf("find records before %s: %w", before.Format(time.RFC3339), err)
		}
		if last.Seq == 0 {
			return nil
		}
		res := tx.Where("seq <= ?", last.Seq).Delete(&Record{})
		if res.Error != nil {
			return fmt.Errorf("remove records up to %d: %w", last.Seq, res.Error)
		}
		removed = res.RowsAffected
		if err := tx.Model(&head{}).Where("id = 1").
			Updates(map[string]any{"anchor_seq": last.Seq, "anchor_hash": last.Hash}).Error; err != nil {
			return fmt.Errorf("move chain anchor: %w", err)
		}
		rec = &Record{
			At: l.opts.Now().UTC().Truncate(time.Microsecond), Actor: "system", Action: ActionPruned,
			Detail: fmt.Sprintf("%d records older than %s removed (up to record %d, hash %s); the chain continues from that hash",
				removed, before.Format(time.RFC3339), last.Seq, last.Hash),
		}
		return appendRecord(tx, l.opts.ChainHash, h, rec)
	})
	if err != nil {
		return 0, fmt.Errorf("audit prune: %w", err)
	}
	if rec != nil {
		l.ship(ctx, rec)
		l.log.InfoContext(ctx, "audit records past the retention removed", "removed", removed, "retention", l.opts.Retention)
	}
	return removed, nil
}
