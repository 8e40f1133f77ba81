package api

import (
	"errors"
	"strings"
	"testing"
)

func TestTextRule(t *testing.T) {
	for _, tc := range []struct {
		name, in, clean string
		ok              bool
	}{
		{"plain Chinese", "小区暖气不热", "小区暖气不热", true},
		{"tab and newline", "a\tb\nc", "a\tb\nc", true},
		{"CR LF", "a\r\nb", "a\nb", true},
		{"left-to-right mark", "a\u200eb", "a\u200eb", true},
		{"NUL", "adm\x00in", "admin", false},
		{"lone CR", "a\rb", "a\nb", false},
		{"escape", "a\x1b[31mb", "a[31mb", false},
		{"DEL", "a\x7fb", "ab", false},
		{"C1", "a\u0085b", "ab", false},
		{"not UTF-8", "a\xff\xfeb", "a\uFFFDb", false},
		{"override", "gpj.\u202Eexe", "gpj.exe", false},
		{"isolate", "\u2066x\u2069", "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckText("content", tc.in)
			if (err == nil) != tc.ok {
				t.Errorf("CheckText(%q) = %v; want ok %v", tc.in, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "content")) {
				t.Errorf("CheckText(%q) = %v; want ErrInvalid naming the field", tc.in, err)
			}
			if got := CleanText(tc.in); got != tc.clean {
				t.Errorf("CleanText(%q) = %q; want %q", tc.in, got, tc.clean)
			}
			if CheckText("x", CleanText(tc.in)) != nil {
				t.Errorf("CleanText(%q) does not pass the rule", tc.in)
			}
		})
	}
}

func TestCheckFieldsNamesTheField(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type body struct {
		Title   string            `json:"title"`
		Citizen inner             `json:"citizen"`
		Who     *inner            `json:"who"`
		Tags    []string          `json:"tags"`
		Extra   map[string]string `json:"extra"`
		Any     any               `json:"any"`
	}
	for _, tc := range []struct {
		field string
		v     body
	}{
		{"title", body{Title: "a\x00"}},
		{"citizen.name", body{Citizen: inner{Name: "\u202E"}}},
		{"who.name", body{Who: &inner{Name: "\x1b"}}},
		{"tags[1]", body{Tags: []string{"ok", "\x00"}}},
		{"extra.k", body{Extra: map[string]string{"k": "\x00"}}},
		{"any.deep", body{Any: map[string]any{"deep": "\x00"}}},
	} {
		err := CheckFields(&tc.v)
		var e *Error
		if !errors.As(err, &e) || e.Field != tc.field || !strings.Contains(e.Message, `"`+tc.field+`"`) {
			t.Errorf("%s: CheckFields = %v; want the field named", tc.field, err)
		}
	}
	v := body{Title: "a\r\nb", Tags: []string{"c\r\nd"}, Any: map[string]any{"e": "f\r\ng"}}
	if err := CheckFields(&v); err != nil {
		t.Fatal(err)
	}
	if v.Title != "a\nb" || v.Tags[0] != "c\nd" || v.Any.(map[string]any)["e"] != "f\ng" {
		t.Errorf("CR LF not normalised: %+v", v)
	}
	dirty := body{Title: "a\x00b", Citizen: inner{Name: "\u202E名"}, Any: map[string]any{"x": "\x1by"}}
	CleanFields(&dirty)
	if dirty.Title != "ab" || dirty.Citizen.Name != "名" || dirty.Any.(map[string]any)["x"] != "y" {
		t.Errorf("CleanFields left %+v", dirty)
	}
}
