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
	if !st.available(ctx) {
		return nil, false, nil
	}
	return st.count(ctx, []span{{from, to}}, g)
}

// available reports whether the table exists.
func (st *surveyTable) available(ctx context.Context) bool {
	if !st.exists.Load() {
		if !st.db.WithContext(ctx).Migrator().HasTable("callback_surveys") {
			return false
		}
		st.exists.Store(true)
	}
	return true
}

func (st *surveyTable) count(ctx context.Context, spans []span, g Group) ([]SurveyCount, bool, error) {
	var rows []surveyRow
	q, args := surveyQuery(g, spans)
	if err := st.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, true, fmt.Errorf("dashboards: survey figures: %w", err)
	}
	return surveyCounts(rows), true, nil
}

type surveyRow struct {
	K                         *string
	Done, Answered, Satisfied int64
}

func surveyCounts(rows []surveyRow) []SurveyCount {
	out := make([]SurveyCount, 0, len(rows))
	for _, r := range rows {
		out = append(out, SurveyCount{Key: deref(r.K), Done: r.Done, Answered: r.Answered, Satisfied: r.Satisfied})
	}
	return out
}

// surveyQuery counts the surveys of completions in spans by g's raw key: k, done,
// answered, satisfied.
func surveyQuery(g Group, spans []span) (string, []any) {
	// The ticket's channel and district are kept on the survey: a join with the tickets
	// would make PostgreSQL hash them whole.
	var col string
	switch g {
	case GroupDepartment:
		col = "s.department_id"
	case GroupCategory:
		col = "s.category_id"
	case GroupChannel:
		col = "s.ticket_channel"
	case GroupDistrict:
		col = "s.district_id"
	default:
		col = "''"
	}
	w, args := spansWhere("s.completed_at", spans)
	key, group := "CAST(x.k AS TEXT)", " GROUP BY x.k"
	if g == GroupNone {
		key, group = "''", ""
	}
	return `SELECT ` + key + ` AS k,
		COALESCE(SUM(CASE WHEN x.status = 'done' THEN 1 ELSE 0 END), 0) AS done,
		COALESCE(SUM(CASE WHEN x.result IN ('satisfied', 'fairly_satisfied', 'dissatisfied') THEN 1 ELSE 0 END), 0) AS answered,
		COALESCE(SUM(CASE WHEN x.result IN ('satisfied', 'fairly_satisfied') THEN 1 ELSE 0 END), 0) AS satisfied
		FROM (SELECT ` + col + ` AS k, s.status, s.result FROM callback_surveys s
			WHERE s.status <> 'skipped' AND ` + w + `) x` + group, args
}

// surveyRollups reports whether surveys are rolled up: they are when they come from the
// callback table and it exists.
func (s *Service) surveyRollups(ctx context.Context) bool {
	st, ok := s.opts.Surveys.(*surveyTable)
	return ok && st.available(ctx)
}

// surveyFigures are the survey figures of the plan for [from, to), by raw group key.
func (s *Service) surveyFigures(ctx context.Context, pl *rollupPlan, from, to time.Time, g Group) ([]SurveyCount, bool, error) {
	st, ok := s.opts.Surveys.(*surveyTable)
	if !ok || !st.available(ctx) {
		return s.opts.Surveys.CountSurveys(ctx, from, to, g)
	}
	var live []SurveyCount
	var rolled []surveyRow
	err := parallel(
		func() (err error) {
			if len(pl.surveys.live) > 0 {
				live, _, err = st.count(ctx, pl.surveys.live, g)
			}
			return err
		},
		func() error {
			if len(pl.surveys.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.surveys.rolled)
			return s.read.WithContext(ctx).Raw(`SELECT gkey AS k, CAST(SUM(done) AS BIGINT) AS done,
				CAST(SUM(answered) AS BIGINT) AS answered, CAST(SUM(satisfied) AS BIGINT) AS satisfied
				FROM dash_day_surveys WHERE dim = ? AND `+w+` GROUP BY gkey`, append([]any{dimOf(g)}, args...)...).Scan(&rolled).Error
		},
	)
	if err != nil {
		return nil, true, fmt.Errorf("dashboards: survey figures: %w", err)
	}
	// A key may come from both: add them up.
	sum := map[string]*SurveyCount{}
	var keys []string
	for _, c := range append(live, surveyCounts(rolled)...) {
		x, ok := sum[c.Key]
		if !ok {
			x = &SurveyCount{Key: c.Key}
			sum[c.Key] = x
			keys = append(keys, c.Key)
		}
		x.Done += c.Done
		x.Answered += c.Answered
		x.Satisfied += c.Satisfied
	}
	out := make([]SurveyCount, 0, len(keys))
	for _, k := range keys {
		out = append(out, *sum[k])
	}
	return out, true, nil
}
