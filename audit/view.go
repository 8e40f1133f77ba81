package audit

import (
	"context"
	"fmt"
	"strings"
)

// MaxListed bounds how many records one view record names; a longer list is cut there.
const MaxListed = 200

// Viewed is the record of citizens' unmasked personal data (phone number, name, e-mail)
// being shown, through via ("the API", "the console's call list", …), so that who saw a
// citizen's number, when, and in which record can be answered (PIPL). One record makes
// target "KIND:ID"; several make target kinds, naming their ids in the detail.
func Viewed(kind, kinds, via string, ids ...string) Event {
	if len(ids) == 1 {
		return Event{Action: ActionPIIViewed, Target: kind + ":" + ids[0], Detail: "citizen's personal data unmasked via " + via}
	}
	return Event{Action: ActionPIIViewed, Target: kinds, Detail: fmt.Sprintf("citizens' personal data of %d %s unmasked via %s: %s",
		len(ids), kinds, via, strings.Join(ids[:min(len(ids), MaxListed)], ", "))}
}

// RecordViewed records Viewed(kind, kinds, via, ids...); no ids (nothing shown) and a nil
// log record nothing. An error means the view was not recorded: callers then show
// nothing.
func (l *Log) RecordViewed(ctx context.Context, kind, kinds, via string, ids ...string) error {
	if l == nil || len(ids) == 0 {
		return nil
	}
	if err := l.Record(ctx, Viewed(kind, kinds, via, ids...)); err != nil {
		return fmt.Errorf("record the view of citizens' data: %w", err)
	}
	return nil
}
