package qq

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func seg(typ string, kv ...string) Segment {
	s := Segment{Type: typ, Data: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i]] = kv[i+1]
	}
	return s
}

func TestParseCQ(t *testing.T) {
	tests := []struct {
		in   string
		want Message
	}{
		{"", nil},
		{"你好", Message{seg("text", "text", "你好")}},
		{"[CQ:at,qq=10001] 路灯坏了", Message{seg("at", "qq", "10001"), seg("text", "text", " 路灯坏了")}},
		{"a&amp;b&#91;c&#93;d", Message{seg("text", "text", "a&b[c]d")}},
		{"[CQ:image,file=a.jpg,url=https://x.cn/a?b=1&#44;2&amp;c=3]", Message{seg("image", "file", "a.jpg", "url", "https://x.cn/a?b=1,2&c=3")}},
		{"[CQ:face,id=14][CQ:face,id=15]", Message{seg("face", "id", "14"), seg("face", "id", "15")}},
		{"前[CQ:text,text=中]后", Message{seg("text", "text", "前中后")}},
		{"[CQ:at", Message{seg("text", "text", "[CQ:at")}},
		{"[CQ:] x", Message{seg("text", "text", "[CQ:] x")}},
		{"[CQ:bad type,a=b]", Message{seg("text", "text", "[CQ:bad type,a=b]")}},
		{"[CQ:[CQ:at,qq=1]", Message{seg("text", "text", "[CQ:"), seg("at", "qq", "1")}},
		{"<script>alert(1)</script>", Message{seg("text", "text", "<script>alert(1)</script>")}},
		{"[CQ:reply,id=-12345][CQ:at,qq=all]", Message{seg("reply", "id", "-12345"), seg("at", "qq", "all")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseCQ(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCQ(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeEventForms(t *testing.T) {
	want := Message{seg("at", "qq", "10001"), seg("text", "text", " 井盖丢了")}
	tests := []struct{ name, message string }{
		{"array", `[{"type":"at","data":{"qq":"10001"}},{"type":"text","data":{"text":" 井盖丢了"}}]`},
		{"array with a number", `[{"type":"at","data":{"qq":10001}},{"type":"text","data":{"text":" 井盖丢了"}}]`},
		{"CQ string", `"[CQ:at,qq=10001] 井盖丢了"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(`{"time":1700000000,"self_id":"10001","post_type":"message","message_type":"group","message_id":-7,"group_id":5,"user_id":6,"message":` + tt.message + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, ev.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if ev.SelfID != 10001 || ev.MessageID != -7 || !ev.Message.Mentions(10001) || ev.Message.Text() != "井盖丢了" {
				t.Errorf("event %+v", ev)
			}
		})
	}
	ev, err := DecodeEvent([]byte(`{"post_type":"message","message":{"type":"image","data":{"file":"x.jpg"}}}`))
	if err != nil || len(ev.Message.Images()) != 1 || ev.Message.Images()[0] != "x.jpg" {
		t.Errorf("single segment: %+v %v", ev, err)
	}
}

func TestRefRoundTrip(t *testing.T) {
	for _, to := range []Target{{SelfID: 1, UserID: 2}, {SelfID: 1, UserID: 2, GroupID: 3}} {
		got, ok := parseRef(externalRef(to))
		if !ok || got != to {
			t.Errorf("parseRef(externalRef(%+v)) = %+v, %v", to, got, ok)
		}
	}
	for _, bad := range []string{"", "qq:1:private", "qq:x:private:2", "mail:1:private:2", "qq:1:group:0:2", "qq:1:private:-2"} {
		if _, ok := parseRef(bad); ok {
			t.Errorf("parseRef(%q) accepted", bad)
		}
	}
}

// FuzzParseCQ: parsing never panics, and writing the segments back as CQ code and
// parsing again gives the same segments.
func FuzzParseCQ(f *testing.F) {
	for _, s := range []string{"", "你好", "[CQ:at,qq=10001] 路灯", "a&amp;b&#91;c&#93;", "[CQ:image,file=a.jpg,url=https://x/a?b=1&#44;2]",
		"[CQ:", "[CQ:a", "[CQ:a,b]", "[CQ:a,=c]", "[CQ:text,text=x]y", "[CQ:[CQ:at,qq=1]", "&#44;&#91;", "]]][[", "[CQ:a,b=c=d,e]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := ParseCQ(s)
		again := ParseCQ(FormatCQ(m))
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("round trip of %q changed (-first +second):\n%s", s, diff)
		}
		for i := 1; i < len(m); i++ {
			if m[i].Type == "text" && m[i-1].Type == "text" {
				t.Fatalf("adjacent text segments from %q", s)
			}
		}
	})
}

// FuzzDecodeEvent: decoding never panics, and a decoded event re-encodes to one that
// decodes to the same message.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"time":1,"self_id":10001,"post_type":"message","message_type":"private","message_id":1,"user_id":2,"message":[{"type":"text","data":{"text":"hi"}}]}`,
		`{"post_type":"message","message_type":"group","group_id":"3","user_id":"2","self_id":1,"message":"[CQ:at,qq=1] x"}`,
		`{"post_type":"message","message":{"type":"image","data":{"url":"http://a/b.png","file":"b.png"}}}`,
		`{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":1,"time":2,"status":{}}`,
		`{"post_type":"notice","notice_type":"group_recall","message_id":5}`,
		`{"post_type":"message","message":[{"type":"at","data":{"qq":10001}}],"sender":{"user_id":2,"nickname":"<b>x</b>"}}`,
		`{"post_type":"message","message":null}`, `{}`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			return
		}
		_ = ev.Message.Text()
		_ = ev.Message.Images()
		_ = ev.Message.Mentions(ev.SelfID)
		_ = scope(ev)
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		if diff := cmp.Diff(ev.Message, again.Message); diff != "" {
			t.Fatalf("message changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}
