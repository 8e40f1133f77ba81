package calendar

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const layout = "2006-01-02 15:04 MST"

// newCalendar returns the default calendar with a logger writing to buf (or nowhere).
func newCalendar(t testing.TB, buf io.Writer, opts Options) *Calendar {
	t.Helper()
	if buf == nil {
		buf = io.Discard
	}
	opts.Log = slog.New(slog.NewTextHandler(buf, nil))
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// local parses "2006-01-02 15:04" in the calendar's location.
func local(t testing.TB, c *Calendar, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, c.Location())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIsWorkday(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	tests := []struct {
		name string
		date string
		want bool
	}{
		{"ordinary Monday", "2025-06-09", true},
		{"ordinary Friday", "2025-06-13", true},
		{"ordinary Saturday", "2025-06-07", false},
		{"ordinary Sunday", "2025-06-08", false},

		{"2026 New Year's Day, Thursday", "2026-01-01", false},
		{"2026 New Year, Friday off", "2026-01-02", false},
		{"2026 New Year, Saturday off", "2026-01-03", false},
		{"2026 New Year make-up Sunday", "2026-01-04", true},
		{"Monday after 2026 New Year", "2026-01-05", true},

		{"Friday before 2026 Spring Festival", "2026-02-13", true},
		{"2026 Spring Festival make-up Saturday", "2026-02-14", true},
		{"2026 Spring Festival first day off", "2026-02-15", false},
		{"2026 Spring Festival Monday off", "2026-02-16", false},
		{"2026 Spring Festival, 除夕 Tuesday", "2026-02-17", false},
		{"2026 Spring Festival last day off, Monday", "2026-02-23", false},
		{"first working day after 2026 Spring Festival", "2026-02-24", true},
		{"2026 Spring Festival second make-up Saturday", "2026-02-28", true},
		{"Sunday after the make-up Saturday", "2026-03-01", false},

		{"2025 National Day make-up Sunday", "2025-09-28", true},
		{"2025 National Day first day", "2025-10-01", false},
		{"2025 Mid-Autumn within National Day", "2025-10-06", false},
		{"2025 National Day last day, Wednesday", "2025-10-08", false},
		{"Thursday after 2025 National Day", "2025-10-09", true},
		{"2025 National Day make-up Saturday", "2025-10-11", true},

		{"2027 Friday, no schedule: weekday rule", "2027-01-01", true},
		{"2027 Saturday, no schedule: weekend rule", "2027-01-02", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			day := local(t, c, tt.date+" 10:00")
			if got := c.IsWorkday(day); got != tt.want {
				t.Errorf("IsWorkday(%s) = %v, want %v", tt.date, got, tt.want)
			}
		})
	}
}

func TestIsWorkdayUsesCalendarLocation(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	// 2026-02-13 20:00 UTC is already Saturday 14 February, a make-up working day, in Beijing.
	utc := time.Date(2026, 2, 13, 20, 0, 0, 0, time.UTC)
	if !c.IsWorkday(utc) {
		t.Errorf("IsWorkday(%s) = false, want true (Saturday 2026-02-14 in Asia/Shanghai is worked)", utc)
	}
	// 2025-09-30 17:00 UTC is Wednesday 1 October in Beijing: National Day.
	utc = time.Date(2025, 9, 30, 17, 0, 0, 0, time.UTC)
	if c.IsWorkday(utc) {
		t.Errorf("IsWorkday(%s) = true, want false (2025-10-01 in Asia/Shanghai)", utc)
	}
}

func TestUncoveredYearLogsOnce(t *testing.T) {
	var buf bytes.Buffer
	c := newCalendar(t, &buf, Options{})
	for _, y := range []int{2025, 2026} {
		if !c.Covered(y) {
			t.Errorf("Covered(%d) = false, want true", y)
		}
	}
	if c.Covered(2027) {
		t.Errorf("Covered(2027) = true, want false")
	}

	c.IsWorkday(local(t, c, "2027-01-01 10:00"))
	c.IsWorkday(local(t, c, "2027-10-01 10:00"))
	c.Add(local(t, c, "2027-03-05 10:00"), Limit{N: 10, Unit: WorkingDays})
	c.WorkingDuration(local(t, c, "2027-03-01 10:00"), local(t, c, "2027-04-01 10:00"))
	c.IsWorkday(local(t, c, "2025-01-01 10:00")) // covered: no line

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines for 2027, want 1:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"level=WARN", "year=2027", "component=calendar"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}

	c.IsWorkday(local(t, c, "2028-06-01 10:00"))
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Errorf("got %d log lines after asking about 2028, want 2 (one per year):\n%s", n, buf.String())
	}
}

// The overdue worker and HTTP handlers share one Calendar; run with -race.
func TestUncoveredYearLogsOnceConcurrently(t *testing.T) {
	var buf bytes.Buffer
	c := newCalendar(t, &syncWriter{w: &buf}, Options{})
	day := local(t, c, "2027-05-10 10:00")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.IsWorkday(day)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Errorf("got %d log lines from concurrent callers, want 1:\n%s", n, buf.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestAdd(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	tests := []struct {
		name  string
		start string
		limit string
		want  string
	}{
		// Working days: the end of the Nth working day after the start day.
		{"Friday afternoon, 1wd is end of Monday", "2025-06-06 15:00", "1wd", "2025-06-09 18:00 CST"},
		{"Friday before office hours, the day still does not count", "2025-06-06 07:00", "1wd", "2025-06-09 18:00 CST"},
		{"Saturday start, 1wd is end of Monday", "2025-06-07 10:00", "1wd", "2025-06-09 18:00 CST"},
		{"Monday, 5wd is end of next Monday", "2025-06-09 09:00", "5wd", "2025-06-16 18:00 CST"},
		{"before Spring Festival, 1wd lands on the make-up Saturday", "2026-02-13 16:00", "1wd", "2026-02-14 18:00 CST"},
		{"before Spring Festival, 2wd jumps the holiday", "2026-02-13 16:00", "2wd", "2026-02-24 18:00 CST"},
		{"Spring Festival start on a day off", "2026-02-18 11:00", "1wd", "2026-02-24 18:00 CST"},
		{"before National Day, 3wd ends on the make-up Saturday", "2025-09-30 10:00", "3wd", "2025-10-11 18:00 CST"},
		{"Saturday before National Day, 1wd is the make-up Sunday", "2025-09-27 10:00", "1wd", "2025-09-28 18:00 CST"},
		{"New Year's Eve 2025, 5wd counts make-up Sunday 2026-01-04", "2025-12-31 10:00", "5wd", "2026-01-08 18:00 CST"},

		// Working hours: only time inside 08:30-12:00 and 14:30-18:00 on working days.
		{"within the morning", "2025-06-09 09:00", "2wh", "2025-06-09 11:00 CST"},
		{"used up at the end of the morning stays at 12:00", "2025-06-09 09:00", "3wh", "2025-06-09 12:00 CST"},
		{"across the lunch break", "2025-06-09 10:00", "4wh", "2025-06-09 16:30 CST"},
		{"start in the lunch break", "2025-06-09 12:30", "1wh", "2025-06-09 15:30 CST"},
		{"start before office hours", "2025-06-09 07:00", "1wh", "2025-06-09 09:30 CST"},
		{"overnight", "2025-06-09 16:00", "4wh", "2025-06-10 10:30 CST"},
		{"Friday evening to Monday", "2025-06-06 20:00", "1wh", "2025-06-09 09:30 CST"},
		{"across National Day", "2025-09-30 17:00", "2wh", "2025-10-09 09:30 CST"},
		{"into the Spring Festival make-up Saturday", "2026-02-13 17:00", "2wh", "2026-02-14 09:30 CST"},
		{"a full working day is 7 hours", "2025-06-09 08:30", "7wh", "2025-06-09 18:00 CST"},
		{"16wh from Monday morning", "2025-06-09 08:30", "16wh", "2025-06-11 10:30 CST"},

		// Clock units ignore the calendar.
		{"24h over a weekend", "2025-06-06 15:00", "24h", "2025-06-07 15:00 CST"},
		{"2d into a holiday", "2025-09-30 10:00", "2d", "2025-10-02 10:00 CST"},
		{"30m at night", "2025-06-09 23:50", "30m", "2025-06-10 00:20 CST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLimit(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Add(local(t, c, tt.start), l).Format(layout)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Add(%s, %s) (-want +got):\n%s", tt.start, tt.limit, diff)
			}
		})
	}
}

func TestAddZeroLimit(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	start := local(t, c, "2025-06-09 10:00")
	for _, l := range []Limit{{}, {N: 0, Unit: WorkingDays}, {N: -3, Unit: ClockHours}} {
		if got := c.Add(start, l); !got.IsZero() {
			t.Errorf("Add(start, %#v) = %s, want the zero Time (no deadline)", l, got)
		}
	}
}

func TestAddUnknownUnit(t *testing.T) {
	var buf bytes.Buffer
	c := newCalendar(t, &buf, Options{})
	if got := c.Add(local(t, c, "2025-06-09 10:00"), Limit{N: 3, Unit: "weeks"}); !got.IsZero() {
		t.Errorf("Add with unit weeks = %s, want the zero Time", got)
	}
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("no error logged for an unknown unit: %q", buf.String())
	}
}

// A start given in another zone is the same instant; the deadline comes back in the
// calendar's location. The calendar here uses a fixed UTC+8 zone, which has no DST
// and needs no zone database.
func TestAddFixedZone(t *testing.T) {
	loc := time.FixedZone("UTC+8", 8*60*60)
	c := newCalendar(t, nil, Options{Location: loc})
	start := time.Date(2025, 6, 6, 7, 0, 0, 0, time.UTC) // Friday 15:00 in UTC+8
	tests := []struct {
		limit string
		want  string
	}{
		{"1wd", "2025-06-09 18:00 UTC+8"},
		{"4wh", "2025-06-09 09:30 UTC+8"},
		{"24h", "2025-06-07 15:00 UTC+8"},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			l, err := ParseLimit(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Add(start, l)
			if diff := cmp.Diff(tt.want, got.Format(layout)); diff != "" {
				t.Errorf("Add (-want +got):\n%s", diff)
			}
			if got.Location() != loc {
				t.Errorf("Add returned location %v, want the calendar's %v", got.Location(), loc)
			}
		})
	}
}

func TestCustomWorkHours(t *testing.T) {
	spans, err := ParseWorkHours("09:00-17:00")
	if err != nil {
		t.Fatal(err)
	}
	c := newCalendar(t, nil, Options{WorkHours: spans})
	tests := []struct {
		start, limit, want string
	}{
		{"2025-06-06 15:00", "1wd", "2025-06-09 17:00 CST"},
		{"2025-06-06 16:00", "2wh", "2025-06-09 10:00 CST"},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			l, err := ParseLimit(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Add(local(t, c, tt.start), l).Format(layout)); diff != "" {
				t.Errorf("Add(%s, %s) (-want +got):\n%s", tt.start, tt.limit, diff)
			}
		})
	}
}

func TestWorkingDuration(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	tests := []struct {
		name     string
		from, to string
		want     time.Duration
	}{
		{"inside one period", "2025-06-09 09:00", "2025-06-09 11:15", 2*time.Hour + 15*time.Minute},
		{"across lunch", "2025-06-09 11:00", "2025-06-09 15:00", 90 * time.Minute},
		{"all in the lunch break", "2025-06-09 12:10", "2025-06-09 14:20", 0},
		{"one whole working day", "2025-06-09 00:00", "2025-06-10 00:00", 7 * time.Hour},
		{"overnight", "2025-06-09 17:00", "2025-06-10 09:30", 2 * time.Hour},
		{"over a weekend", "2025-06-06 17:00", "2025-06-09 09:30", 2 * time.Hour},
		{"a whole week", "2025-06-09 00:00", "2025-06-16 00:00", 35 * time.Hour},
		{"over Spring Festival with the make-up Saturday", "2026-02-13 17:00", "2026-02-24 09:30", 1*time.Hour + 7*time.Hour + 1*time.Hour},
		{"inside a holiday", "2025-10-02 09:00", "2025-10-05 17:00", 0},
		{"same instant", "2025-06-09 10:00", "2025-06-09 10:00", 0},
		{"to before from", "2025-06-09 11:00", "2025-06-09 10:00", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.WorkingDuration(local(t, c, tt.from), local(t, c, tt.to))
			if got != tt.want {
				t.Errorf("WorkingDuration(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// WorkingDuration must measure back exactly what Add counted forward, or on-time
// statistics would disagree with the deadlines shown to departments.
func TestWorkingDurationInvertsAdd(t *testing.T) {
	c := newCalendar(t, nil, Options{})
	starts := []string{"2025-06-06 15:00", "2025-06-09 12:30", "2025-09-30 17:00", "2026-02-13 07:00", "2026-02-20 10:00", "2025-12-31 23:59"}
	for _, s := range starts {
		for _, n := range []int{1, 3, 4, 7, 20, 100} {
			start := local(t, c, s)
			end := c.Add(start, Limit{N: n, Unit: WorkingHours})
			if got := c.WorkingDuration(start, end); got != time.Duration(n)*time.Hour {
				t.Errorf("WorkingDuration(%s, Add(%s, %dwh) = %s) = %v, want %dh", s, s, n, end.Format(layout), got, n)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	conflict := &Holidays{Years: []Year{
		{Year: 2025, Holidays: []Holiday{{Name: "甲", From: Date{2025, 10, 1}, To: Date{2025, 10, 8}}}},
		{Year: 2026, Holidays: []Holiday{{Name: "乙", From: Date{2025, 12, 31}, To: Date{2026, 1, 1}, Work: []Date{{2025, 10, 4}}}}},
	}}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"overlapping spans", Options{WorkHours: []Span{{From: 9 * time.Hour, To: 12 * time.Hour}, {From: 11 * time.Hour, To: 13 * time.Hour}}}, "starts before"},
		{"empty span", Options{WorkHours: []Span{{From: 9 * time.Hour, To: 9 * time.Hour}}}, "does not end after it starts"},
		{"day off in one year, worked in another", Options{Holidays: conflict}, "2025-10-04 is both a day off and a working day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Log = slog.New(slog.DiscardHandler)
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func BenchmarkAddWorkingDays(b *testing.B) {
	c := newCalendar(b, nil, Options{})
	start := time.Date(2026, 2, 10, 15, 0, 0, 0, c.Location())
	l := Limit{N: 15, Unit: WorkingDays}
	b.ReportAllocs()
	for b.Loop() {
		c.Add(start, l)
	}
}
