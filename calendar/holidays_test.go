package calendar

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultHolidays(t *testing.T) {
	h, err := DefaultHolidays()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, y := range h.Years {
		for _, hd := range y.Holidays {
			got = append(got, hd.From.String()+" "+hd.NameEN)
		}
	}
	want := []string{
		"2025-01-01 New Year's Day",
		"2025-01-28 Spring Festival",
		"2025-04-04 Qingming Festival",
		"2025-05-01 Labour Day",
		"2025-05-31 Dragon Boat Festival",
		"2025-10-01 National Day and Mid-Autumn Festival",
		"2026-01-01 New Year's Day",
		"2026-02-15 Spring Festival",
		"2026-04-04 Qingming Festival",
		"2026-05-01 Labour Day",
		"2026-06-19 Dragon Boat Festival",
		"2026-09-25 Mid-Autumn Festival",
		"2026-10-01 National Day",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("embedded holidays (-want +got):\n%s", diff)
	}
	if sf := h.Years[1].Holidays[1]; sf.Name != "春节" || sf.To != (Date{2026, time.February, 23}) ||
		!cmp.Equal(sf.Work, []Date{{2026, time.February, 14}, {2026, time.February, 28}}) {
		t.Errorf("2026 Spring Festival = %+v", sf)
	}
}

// madeUp2027 is an invented schedule, only to show that a year is a data change.
const madeUp2027 = `
years:
  - year: 2027
    holidays:
      - name: 元旦
        name_en: New Year's Day
        from: 2027-01-01
        to: 2027-01-03
      - name: 春节
        name_en: Spring Festival
        from: 2027-02-06
        to: 2027-02-14
        work: [2027-01-31, 2027-02-20]
`

func TestOverrideAddsYear(t *testing.T) {
	extra, err := ParseHolidays([]byte(madeUp2027))
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultHolidays()
	if err != nil {
		t.Fatal(err)
	}
	c := newCalendar(t, nil, Options{Holidays: def.Merge(extra)})
	for _, y := range []int{2025, 2026, 2027} {
		if !c.Covered(y) {
			t.Errorf("Covered(%d) = false after merge", y)
		}
	}
	tests := []struct {
		date string
		want bool
	}{
		{"2027-01-01", false},
		{"2027-01-31", true}, // a Sunday worked
		{"2027-02-08", false},
		{"2026-02-16", false}, // the embedded years are still there
	}
	for _, tt := range tests {
		t.Run(tt.date, func(t *testing.T) {
			if got := c.IsWorkday(local(t, c, tt.date+" 10:00")); got != tt.want {
				t.Errorf("IsWorkday(%s) = %v, want %v", tt.date, got, tt.want)
			}
		})
	}
}

func TestOverrideReplacesYear(t *testing.T) {
	// A correction for 2025 that drops every holiday but New Year's Day.
	fix, err := ParseHolidays([]byte(`
years:
  - year: 2025
    holidays:
      - {name: 元旦, name_en: New Year's Day, from: 2025-01-01, to: 2025-01-01}
`))
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultHolidays()
	if err != nil {
		t.Fatal(err)
	}
	merged := def.Merge(fix)
	if diff := cmp.Diff([]int{2025, 2026}, years(merged)); diff != "" {
		t.Errorf("merged years (-want +got):\n%s", diff)
	}
	if n := len(merged.Years[0].Holidays); n != 1 {
		t.Errorf("merged 2025 has %d holidays, want the override's 1", n)
	}
	if n := len(def.Years[0].Holidays); n != 6 {
		t.Errorf("Merge changed its receiver: 2025 has %d holidays, want 6", n)
	}
	c := newCalendar(t, nil, Options{Holidays: merged})
	if !c.IsWorkday(local(t, c, "2025-10-01 10:00")) {
		t.Error("2025-10-01 is still a day off after the override removed it")
	}
}

func years(h *Holidays) []int {
	var ys []int
	for _, y := range h.Years {
		ys = append(ys, y.Year)
	}
	return ys
}

func TestParseHolidaysErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"misspelt field", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-01, to: 2027-01-01, wrok: [2027-01-02]}\n", "field wrok not found"},
		{"bad date", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-13-01, to: 2027-01-01}\n", `"2027-13-01" is not YYYY-MM-DD`},
		{"backwards", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-03, to: 2027-01-01}\n", "ends (2027-01-01) before it starts (2027-01-03)"},
		{"missing to", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-03}\n", "needs both from and to"},
		{"no name", "years:\n  - year: 2027\n    holidays:\n      - {from: 2027-01-01, to: 2027-01-01}\n", "has no name"},
		{"too long", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-01, to: 2027-03-01}\n", "longer than 31 days"},
		{"wrong year block", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2026-05-01, to: 2026-05-03}\n", "is not in 2027"},
		{"make-up on a weekday", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-01, to: 2027-01-01, work: [2027-01-05]}\n", "2027-01-05 is a Tuesday, not a weekend day"},
		{"make-up inside days off", "years:\n  - year: 2027\n    holidays:\n      - {name: x, from: 2027-01-01, to: 2027-01-03, work: [2027-01-02]}\n", "both a day off and a working day"},
		{"year twice", "years:\n  - {year: 2027, holidays: []}\n  - {year: 2027, holidays: []}\n", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHolidays([]byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
