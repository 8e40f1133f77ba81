package dashboards

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rexian/rexian/dashboards/dashtest"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

// TestSpeed measures every figure set, the rankings, the panel and a year's bulletin
// over a large city on PostgreSQL. It runs only when asked, as seeding takes minutes:
//
//	REXIAN_TEST_DB=postgres REXIAN_SPEED_TICKETS=1000000 go test -run TestSpeed -v -timeout 60m ./dashboards/
//
// The data are those of dashtest.Seed: two years of tickets with their assignments,
// timelines, calls and surveys.
func TestSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("REXIAN_SPEED_TICKETS"))
	if n <= 0 || dbtest.Kind() != database.Postgres {
		t.Skip("set REXIAN_SPEED_TICKETS and REXIAN_TEST_DB=postgres to measure")
	}
	e := newEnv(t)
	// The fixture's context ends after five minutes; seeding and measuring take longer.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	// Two years of tickets ending at the clock's time, evenly spread.
	end := monday10.UTC()
	e.clk.Set(end)
	sqlDB, err := e.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := dashtest.Seed(e.ctx, sqlDB, n, end, t.Logf); err != nil {
		t.Fatal(err)
	}
	var count int64
	e.DB.Table("tickets").Count(&count)
	t.Logf("%d tickets", count)
	// The roll-up worker's first pass, then a second, which finds only the last minute's days.
	for _, pass := range []string{"first", "idle"} {
		began := time.Now()
		days, err := e.svc.RollUp(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s roll-up pass: %d days in %s", pass, days, time.Since(began).Round(time.Millisecond))
	}

	// Twenty timed runs after one untimed one, which opens connections and warms caches
	// the way the first request after a start does.
	const runs = 20
	measure := func(name string, f func() error) time.Duration {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ds := make([]time.Duration, 0, runs)
		for range runs {
			began := time.Now()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(began))
		}
		slices.Sort(ds)
		p95 := ds[(len(ds)*95+99)/100-1]
		t.Logf("%-28s p50 %7s  p95 %7s", name, ds[len(ds)/2].Round(100*time.Microsecond), p95.Round(100*time.Microsecond))
		return p95
	}
	worst := time.Duration(0)
	for _, kind := range []PeriodKind{PeriodToday, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear} {
		p, err := PeriodOf(kind, e.clk.Now(), "", "", shanghai)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []Group{GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict} {
			d := measure(fmt.Sprintf("figures %s/%s", kind, g), func() error {
				_, err := e.svc.Figures(e.ctx, supervisor, p, g)
				return err
			})
			worst = max(worst, d)
		}
		worst = max(worst, measure(fmt.Sprintf("rates %s", kind), func() error {
			_, err := e.svc.Ranking(e.ctx, supervisor, p)
			return err
		}))
		worst = max(worst, measure(fmt.Sprintf("standard %s", kind), func() error {
			_, err := e.svc.Standard(e.ctx, supervisor, p)
			return err
		}))
	}
	t.Logf("worst p95 of a figure set: %s", worst)
	if worst > 200*time.Millisecond {
		t.Errorf("a figure set took %s at p95; the target is 200 ms", worst)
	}
	began := time.Now()
	b, err := e.svc.Bulletin(e.ctx, supervisor, BulletinAnnual, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var sink discard
	if err := WriteBulletinXLSX(&sink, b); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("annual bulletin with its workbook: %s (%d accepted)", took.Round(time.Millisecond), b.Figures.Total.Accepted)
	if took > 5*time.Second {
		t.Errorf("the annual bulletin took %s; the target is 5 s", took)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
