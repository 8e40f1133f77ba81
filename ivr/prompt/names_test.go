package prompt

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"welcome-mayor", true},
		{"dept-dsq", true},
		{"dept-road_works", true},
		{"0-first", true},
		{"", false},
		{"-leading-dash", false},
		{"Welcome", false},       // upper case would clash on case-insensitive copies
		{"../etc/passwd", false}, // no path may escape the folder
		{"a/b", false},
		{"with space", false},
		{"欢迎", false},
		{strings.Repeat("a", maxNameLen), true},
		{strings.Repeat("a", maxNameLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidName(tt.name); (err == nil) != tt.ok {
				t.Errorf("ValidName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestDepartmentTexts(t *testing.T) {
	tests := []struct {
		name    string
		depts   []Department
		want    map[string]string
		wantErr []string // substrings of the error; none means no error
	}{
		{
			name:  "codes are lower-cased and names trimmed",
			depts: []Department{{Code: "DSQ", Name: " 东胜区人民政府 "}, {Code: "zjj_2", Name: "市住建局"}},
			want:  map[string]string{"dept-dsq": "东胜区人民政府", "dept-zjj_2": "市住建局"},
		},
		{
			name:    "a department without a name is left out and reported",
			depts:   []Department{{Code: "A", Name: "甲"}, {Code: "B", Name: "  "}},
			want:    map[string]string{"dept-a": "甲"},
			wantErr: []string{`department "B" has no name`},
		},
		{
			name:    "codes that differ only in case share a file",
			depts:   []Department{{Code: "ab", Name: "一"}, {Code: "AB", Name: "二"}},
			want:    map[string]string{"dept-ab": "一"},
			wantErr: []string{`"ab" and "AB"`, "dept-ab"},
		},
		{
			name:    "a code that makes no file name",
			depts:   []Department{{Code: "a b", Name: "一"}},
			want:    map[string]string{},
			wantErr: []string{`department "a b"`},
		},
		{name: "none", want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DepartmentTexts(tt.depts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("texts (-want +got):\n%s", diff)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDepartmentNameMatchesTexts(t *testing.T) {
	// The controller calls DepartmentName to play what DepartmentTexts rendered.
	texts, err := DepartmentTexts([]Department{{Code: " Road-1 ", Name: "道路一处"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := texts[DepartmentName("ROAD-1")]; !ok {
		t.Errorf("DepartmentName(ROAD-1) = %q, not among %v", DepartmentName("ROAD-1"), texts)
	}
}

func TestDialplanTextsAreValid(t *testing.T) {
	for name, text := range DialplanTexts() {
		if err := ValidName(name); err != nil || strings.TrimSpace(text) == "" {
			t.Errorf("dialplan prompt %q: %v, text %q", name, err, text)
		}
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		sets    []map[string]string
		want    map[string]string
		wantErr string
	}{
		{
			name: "disjoint",
			sets: []map[string]string{{"a": "甲"}, {"b": "乙"}},
			want: map[string]string{"a": "甲", "b": "乙"},
		},
		{
			name: "same name, same text",
			sets: []map[string]string{{"a": "甲"}, {"a": "甲"}},
			want: map[string]string{"a": "甲"},
		},
		{
			name:    "same name, other text: the first wins and the clash is named",
			sets:    []map[string]string{{"a": "甲", "z": "1"}, {"a": "乙", "z": "2"}},
			want:    map[string]string{"a": "甲", "z": "1"},
			wantErr: "two different texts: a, z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.sets...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		in      string
		want    []Format
		wantErr bool
	}{
		{"", []Format{WAV}, false},
		{"wav", []Format{WAV}, false},
		{"ALAW, wav,alaw", []Format{ALaw, WAV}, false},
		{"gsm,sln,ulaw", []Format{GSM, SLN, ULaw, WAV}, false},
		{"mp3", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormats(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDigitTexts(t *testing.T) {
	texts := DigitTexts()
	// The files Asterisk's zh number rules and digit strings ask for.
	want := map[string]string{
		"0": "零", "1": "一", "9": "九", "10": "十", "20": "二十", "90": "九十",
		"hundred": "百", "thousand": "千", "wan": "万", "yi": "亿",
		"star": "星号", "pound": "井号", "minus": "负",
	}
	for name, text := range want {
		if texts[name] != text {
			t.Errorf("digits/%s = %q, want %q", name, texts[name], text)
		}
	}
	if len(texts) != 26 {
		t.Errorf("%d digit files, want 26 (0-9, 10-90, 4 units, star, pound, minus)", len(texts))
	}
	for name := range texts {
		if err := ValidName(name); err != nil {
			t.Error(err)
		}
	}
}
