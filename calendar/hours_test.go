package calendar

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseWorkHours(t *testing.T) {
	h := time.Hour
	m := time.Minute
	tests := []struct {
		in   string
		want []Span
	}{
		{DefaultWorkHours, []Span{{8*h + 30*m, 12 * h}, {14*h + 30*m, 18 * h}}},
		{" 9:00-17:00 ", []Span{{9 * h, 17 * h}}},
		{"00:00-24:00", []Span{{0, 24 * h}}},
		{"08:00-12:00, 13:00-17:00 ,19:00-21:30", []Span{{8 * h, 12 * h}, {13 * h, 17 * h}, {19 * h, 21*h + 30*m}}},
		{"08:00-12:00,12:00-17:00", []Span{{8 * h, 12 * h}, {12 * h, 17 * h}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWorkHours(tt.in)
			if err != nil {
				t.Fatalf("ParseWorkHours(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWorkHours(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if got := (Span{8*h + 30*m, 12 * h}).String(); got != "08:30-12:00" {
		t.Errorf("Span.String() = %q, want 08:30-12:00", got)
	}
}

func TestParseWorkHoursErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "empty working hours"},
		{"08:30", `span "08:30" is not HH:MM-HH:MM`},
		{"8-12", `"8" is not HH:MM`},
		{"08:30-12:00;14:30-18:00", `"12:00;14:30-18:00" is not HH:MM`},
		{"12:00-08:30", "does not end after it starts"},
		{"08:30-12:00,11:00-13:00", "span 11:00-13:00 starts before 08:30-12:00 ends"},
		{"14:00-18:00,08:00-12:00", "starts before"},
		{"25:00-26:00", `"25:00" is not a time of day`},
		{"08:60-09:00", `"08:60" is not a time of day`},
		{"24:30-24:45", `"24:30" is not a time of day`},
		{"+8:00-12:00", `"+8:00" is not HH:MM`},
		{"08:00-12:00,", `span "" is not HH:MM-HH:MM`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWorkHours(tt.in)
			if err == nil {
				t.Fatalf("ParseWorkHours(%q) = %v, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseWorkHours(%q) error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}
