package spool

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseName(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 30, 15, 0, time.UTC)
	tests := []struct {
		name    string
		want    header
		wantErr bool
		notAud  bool
	}{
		{
			name: "20261126T203015Z_13800138000_12345_1795720916.93.wav",
			want: header{At: at, Caller: "13800138000", Dialled: "12345", CallID: "1795720916.93", Format: "wav"},
		},
		{
			name: "20261126T203015Z_+8613800138000_8393000_node2-1795720916.93.wav",
			want: header{At: at, Caller: "+8613800138000", Dialled: "8393000", CallID: "node2-1795720916.93", Format: "wav"},
		},
		{
			name: "20261126T203015Z_unknown_12345_1795720916.93.wav",
			want: header{At: at, Dialled: "12345", CallID: "1795720916.93", Format: "wav"},
		},
		{
			name: "20261126T203015Z_anonymous_unknown.WAV", // no unique id, wav49
			want: header{At: at, Format: "WAV"},
		},
		{
			name: "20261126T203015_13800138000_12345.gsm", // no Z: UTC anyway
			want: header{At: at, Caller: "13800138000", Dialled: "12345", Format: "gsm"},
		},
		{
			name: "1795725015_13800138000_12345_x.sln", // Unix seconds
			want: header{At: time.Unix(1795725015, 0).UTC(), Caller: "13800138000", Dialled: "12345", CallID: "x", Format: "sln"},
		},
		{name: "20261126T203015Z_13800138000.wav", wantErr: true},           // too few parts
		{name: "yesterday_13800138000_12345_1.wav", wantErr: true},          // bad time
		{name: "20261126T203015Z_alice_12345_1.wav", wantErr: true},         // caller not a number
		{name: "20261126T203015Z_13800138000_12 345_1.wav", wantErr: true},  // dialled not a number
		{name: "20261126T203015Z_13800138000_12345_a b.wav", wantErr: true}, // bad call id
		{name: "20261326T203015Z_13800138000_12345_1.wav", wantErr: true},   // month 13
		{name: "recording.wav", wantErr: true},                              // not ours
		{name: "README.txt", wantErr: true, notAud: true},                   // not audio
		{name: "noextension", wantErr: true, notAud: true},                  // not audio
		{name: ".wav", wantErr: true, notAud: true},                         // hidden
		{name: "20261126T203015Z_1_2_3.mp3", wantErr: true, notAud: true},   // not an Asterisk format
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseName(tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseName(%q) error = %v, wantErr %v", tt.name, err, tt.wantErr)
			}
			if tt.notAud != errors.Is(err, errNotAudio) {
				t.Errorf("errors.Is(%v, errNotAudio) = %v, want %v", err, !tt.notAud, tt.notAud)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileNameRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 30, 15, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		caller, dialled, id string
		wantName            string
	}{
		{"13800138000", "12345", "1795720916.93", "20261126T123015Z_13800138000_12345_1795720916.93.wav"},
		{"", "", "", "20261126T123015Z_unknown_unknown.wav"},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			name := FileName(at, tt.caller, tt.dialled, tt.id, "wav")
			if name != tt.wantName {
				t.Fatalf("FileName = %q, want %q", name, tt.wantName)
			}
			h, err := parseName(name)
			if err != nil {
				t.Fatal(err)
			}
			want := header{At: at.UTC(), Caller: tt.caller, Dialled: tt.dialled, CallID: tt.id, Format: "wav"}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("20261126T203015Z_13800138000_12345_1795720916.93.wav")
	f.Add("20261126T203015Z_unknown_unknown.WAV")
	f.Add("1795725015_+1_2_x.sln")
	f.Fuzz(func(t *testing.T, name string) {
		h, err := parseName(name)
		if err != nil {
			return
		}
		// Whatever parses must name the same message when written again.
		again, err := parseName(FileName(h.At, h.Caller, h.Dialled, h.CallID, h.Format))
		if err != nil {
			t.Fatalf("FileName of %+v does not parse: %v", h, err)
		}
		if !again.At.Equal(h.At) || again.Caller != h.Caller || again.Dialled != h.Dialled || again.CallID != h.CallID {
			t.Fatalf("%q parses to %+v, written again to %+v", name, h, again)
		}
	})
}
