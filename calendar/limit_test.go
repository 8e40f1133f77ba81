package calendar

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want Limit
	}{
		{"5wd", Limit{5, WorkingDays}},
		{"4wh", Limit{4, WorkingHours}},
		{"24h", Limit{24, ClockHours}},
		{"2d", Limit{2, ClockDays}},
		{"30m", Limit{30, ClockMinutes}},
		{" 15wd\n", Limit{15, WorkingDays}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimit(tt.in)
			if err != nil {
				t.Fatalf("ParseLimit(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLimit(%q) (-want +got):\n%s", tt.in, diff)
			}
			again, err := ParseLimit(got.String())
			if err != nil || again != got {
				t.Errorf("ParseLimit(%q.String() = %q) = %v, %v; want a round trip", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseLimitErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // part of the message
	}{
		{"", "empty limit"},
		{"  ", "empty limit"},
		{"5", `limit "5" has no unit, want one of wd, wh, d, h, m`},
		{"wd", `limit "wd" must start with a positive whole number`},
		{"-1wd", `limit "-1wd" must start with a positive whole number`},
		{"0wd", `limit "0wd" is zero`},
		{"5xx", `limit "5xx" has unknown unit "xx"`},
		{"5WD", `unknown unit "WD"`},
		{"5 wd", `unknown unit " wd"`},
		{"1.5wd", `unknown unit ".5wd"`},
		{"99999999999999999999wd", "too large"},
		{"100001wd", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimit(tt.in)
			if err == nil {
				t.Fatalf("ParseLimit(%q) = %v, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseLimit(%q) error %v does not wrap ErrInvalid", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseLimit(%q) error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestLimitZero(t *testing.T) {
	var l Limit
	if !l.IsZero() {
		t.Error("zero Limit: IsZero() = false")
	}
	if s := l.String(); s != "" {
		t.Errorf("zero Limit: String() = %q, want empty", s)
	}
	if (Limit{N: 1, Unit: ClockMinutes}).IsZero() {
		t.Error("1m: IsZero() = true")
	}
}

// Limits sit in configuration and in stored category settings, so they must read and
// write as text in both YAML and JSON, including "no limit".
func TestLimitText(t *testing.T) {
	type settings struct {
		Normal Limit `yaml:"normal" json:"normal"`
		Urgent Limit `yaml:"urgent" json:"urgent"`
		None   Limit `yaml:"none" json:"none"`
	}
	want := settings{Normal: Limit{5, WorkingDays}, Urgent: Limit{2, ClockHours}}

	t.Run("yaml", func(t *testing.T) {
		var got settings
		if err := yaml.Unmarshal([]byte("normal: 5wd\nurgent: 2h\n"), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("yaml.Unmarshal (-want +got):\n%s", diff)
		}
		out, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("normal: 5wd\nurgent: 2h\nnone: \"\"\n", string(out)); diff != "" {
			t.Errorf("yaml.Marshal (-want +got):\n%s", diff)
		}
		var back settings
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("yaml round trip (-want +got):\n%s", diff)
		}
	})
	t.Run("json", func(t *testing.T) {
		out, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(`{"normal":"5wd","urgent":"2h","none":""}`, string(out)); diff != "" {
			t.Errorf("json.Marshal (-want +got):\n%s", diff)
		}
		var back settings
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("json round trip (-want +got):\n%s", diff)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		var got settings
		err := yaml.Unmarshal([]byte("normal: 5 days\n"), &got)
		if err == nil || !strings.Contains(err.Error(), `limit "5 days"`) {
			t.Errorf("yaml.Unmarshal of 5 days: error %v, want one naming the limit", err)
		}
		err = json.Unmarshal([]byte(`{"urgent":"-2h"}`), &got)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("json.Unmarshal of -2h: error %v, want ErrInvalid", err)
		}
	})
	t.Run("hand-built bad limit", func(t *testing.T) {
		if _, err := json.Marshal(Limit{N: 3, Unit: "weeks"}); err == nil {
			t.Error("json.Marshal of 3weeks: no error")
		}
	})
}
