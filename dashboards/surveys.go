package dashboards

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// SurveyCount is one group's surveys of completions in a period: Done have a result
// (including unreachable and refused), Answered gave an opinion, Satisfied said
// satisfied or fairly satisfied.
type SurveyCount struct {
	Key                       string
	Done, Answered, Satisfied int64
}

// SurveyCounter reports survey figures by group, with the raw group keys the ticket
// figures use (a department or category id, a channel). available is false when surveys
// are not kept at all, which is not an error.
type SurveyCounter interface {
	CountSurveys(ctx context.Context, from, to time.Time, g Group) (counts []SurveyCount, available bool, err error)
}

// surveyTable reads the callback package's callback_surveys table directly, so that the
// dashboards need not import the package, and report no surveys while it does not exist.
type surveyTable struct {
	db     *gorm.DB
	exists atomic.Bool // once seen, a table does not go away
}

var _ SurveyCounter = (*surveyTable)(nil)

func (st *surveyTable) CountSurveys(ctx context.Context, from, to time.Time, g Group) ([]SurveyCount, bool, error) {
	if !st.exists.Load() {
		if !st.db.WithContext(ctx).Migrator().HasTable("callback_surveys") {
			return nil, false, nil
		}
		st.exists.Store(true)
	}
	var col, join string
	switch g {
	case GroupDepartment:
		col = "s.department_id"
	case GroupCategory:
		col = "s.category_id"
	case GroupChannel:
		col, join = "t.channel", "JOIN tickets t ON t.id = s.ticket_id"
	case GroupDistrict:
		col, join = "t.district_id", "JOIN tickets t ON t.id = s.ticket_id"
	default:
		col = "''"
	}
	var rows []struct {
		K                         *string
		Done, Answered, Satisfied int64
	}
	err := st.db.WithContext(ctx).Raw(`SELECT CAST(`+col+` AS TEXT) AS k,
		COALESCE(SUM(CASE WHEN s.status = 'done' THEN 1 ELSE 0 END), 0) AS done,
		COALESCE(SUM(CASE WHEN s.result IN ('satisfied', 'fairly_satisfied', 'dissatisfied') THEN 1 ELSE 0 END), 0) AS answered,
		COALESCE(SUM(CASE WHEN s.result IN ('satisfied', 'fairly_satisfied') THEN 1 ELSE 0 END), 0) AS satisfied
		FROM callback_surveys s `+join+`
		WHERE s.status <> 'skipped' AND s.completed_at >= ? AND s.completed_at < ?
		`+groupBy(col), from, to).Scan(&rows).Error
	if err != nil {
		return nil, true, fmt.Errorf("dashboards: survey figures: %w", err)
	}
	out := make([]SurveyCount, 0, len(rows))
	for _, r := range rows {
		out = append(out, SurveyCount{Key: deref(r.K), Done: r.Done, Answered: r.Answered, Satisfied: r.Satisfied})
	}
	return out, true, nil
}
