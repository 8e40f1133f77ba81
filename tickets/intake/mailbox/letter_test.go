package mailbox

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLetter(t *testing.T) {
	const from = "张三 <zhangsan@example.test>"
	tests := []struct {
		name        string
		raw         []byte
		lim         func(*Limits)
		wantSubject string
		wantText    []string // substrings the text must hold
		notText     []string // substrings it must not
		wantFiles   []string
		wantDropped []string // substrings of Dropped entries
		wantBroken  bool
		wantNoise   string // substring
	}{
		{name: "plain utf-8", raw: plainLetter(from, "<p1@example.test>", "小区路灯不亮", "东胜区某小区路灯已坏一周。\n请尽快维修。"),
			wantSubject: "小区路灯不亮", wantText: []string{"路灯已坏一周。\n请尽快维修。"}},
		{name: "html only", raw: htmlLetter(from, "<h1@example.test>", "噪音扰民",
			`<html><head><style>p{color:red}</style><title>t</title></head><body><p>夜间施工&nbsp;噪音&amp;粉尘</p><script>alert("x")</script><p>请<b>处理</b></p><ul><li>一</li><li>二</li></ul></body></html>`),
			wantSubject: "噪音扰民", wantText: []string{"夜间施工 噪音&粉尘", "请处理", "- 一\n- 二"}, notText: []string{"alert", "color:red", "<p>", "&amp;"}},
		{name: "alternative prefers plain", raw: alternativeLetter(from, "<a1@example.test>", "两种格式", "纯文本版本", "<p>HTML版本</p>"),
			wantText: []string{"纯文本版本"}, notText: []string{"HTML版本"}},
		{name: "attachments", raw: attachmentsLetter(from, "<f1@example.test>", "附件", "见附件照片和材料"),
			wantText: []string{"见附件照片和材料"}, wantFiles: []string{"现场.png", "材料.pdf", "setup.exe"}},
		{name: "gbk body and subject", raw: gbkLetter(from, "<g1@example.test>", "供暖不热", "室温只有十二度。", "GBK"),
			wantSubject: "供暖不热", wantText: []string{"室温只有十二度。"}},
		{name: "gb2312 body and subject", raw: gbkLetter(from, "<g2@example.test>", "道路积水", "雨后积水严重。", "gb2312"),
			wantSubject: "道路积水", wantText: []string{"雨后积水严重。"}},
		{name: "gb18030 label", raw: gbkLetter(from, "<g3@example.test>", "公交改线", "希望恢复原线路。", "GB18030"),
			wantSubject: "公交改线", wantText: []string{"希望恢复原线路。"}},
		{name: "unlabelled gbk", raw: append([]byte(header(from, "<g4@example.test>", "无标注")+"\r\n"), gbk("没有标注字符集的来信")...),
			wantText: []string{"没有标注字符集的来信"}},
		{name: "unknown charset", raw: []byte(header(from, "<u1@example.test>", "怪字符集", "Content-Type: text/plain; charset=x-nonesuch") + "\r\nplain ascii body\r\n"),
			wantText: []string{"plain ascii body"}, wantBroken: true},
		{name: "broken multipart", raw: brokenLetter(from, "<b1@example.test>"), wantBroken: true},
		{name: "bad base64 keeps what it can", raw: badBase64Letter(from, "<b2@example.test>"), wantBroken: true, wantText: []string{"前半段可以读"}},
		{name: "no header at all", raw: []byte("这不是邮件\x00\x01 只是一串文字"), wantBroken: true, wantText: []string{"这不是邮件"}},
		{name: "nested too deep", raw: nestedLetter(from, "<n1@example.test>", 12), wantBroken: true, notText: []string{"最里面的话"}},
		{name: "nested within limit", raw: nestedLetter(from, "<n2@example.test>", 5), wantText: []string{"最里面的话"}},
		{name: "attachment bomb", raw: bombLetter(from, "<m1@example.test>", 40), lim: func(l *Limits) { l.MaxParts = 20 },
			wantDropped: []string{"附件超过10个", "超过20个部分"}},
		{name: "attachment too large", raw: attachmentsLetter(from, "<f2@example.test>", "大附件", "正文"), lim: func(l *Limits) { l.MaxAttachmentBytes = 100 },
			wantFiles: []string{"现场.png", "setup.exe"}, wantDropped: []string{"材料.pdf（超过"}},
		{name: "total size capped", raw: bombLetter(from, "<m2@example.test>", 5), lim: func(l *Limits) { l.MaxTotalBytes = int64(3 * len(pngBytes)) },
			wantFiles: []string{"p0.png", "p1.png", "p2.png"}, wantDropped: []string{"p3.png（附件合计超过", "p4.png"}},
		{name: "auto-reply", raw: autoReply("<n3@example.org>"), wantNoise: "auto-submitted"},
		{name: "bounce", raw: bounce("<n4@example.org>"), wantNoise: "bounce"},
		{name: "list", raw: listMessage("<n5@example.org>"), wantNoise: "precedence: list"},
		{name: "auto-submitted no is a letter", raw: []byte(header(from, "<n6@example.test>", "正常来信", "Auto-Submitted: no") + "\r\n正文\r\n"), wantText: []string{"正文"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := DefaultLimits()
			if tt.lim != nil {
				tt.lim(&lim)
			}
			l, err := ParseLetter(tt.raw, lim)
			if l == nil {
				t.Fatal("ParseLetter returned no letter")
			}
			if got := err != nil; got != tt.wantBroken {
				t.Errorf("broken = %v (err %v), want %v", got, err, tt.wantBroken)
			}
			if err != nil && !errors.Is(err, ErrBroken) {
				t.Errorf("err %v does not wrap ErrBroken", err)
			}
			if tt.wantSubject != "" && l.Subject != tt.wantSubject {
				t.Errorf("subject %q, want %q", l.Subject, tt.wantSubject)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(l.Text, s) {
					t.Errorf("text %q lacks %q", l.Text, s)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(l.Text, s) {
					t.Errorf("text %q holds %q", l.Text, s)
				}
			}
			if tt.wantFiles != nil {
				var names []string
				for _, a := range l.Attachments {
					names = append(names, a.Name)
				}
				if d := cmp.Diff(tt.wantFiles, names); d != "" {
					t.Errorf("attachments (-want +got):\n%s", d)
				}
			}
			dropped := strings.Join(l.Dropped, "|")
			for _, s := range tt.wantDropped {
				if !strings.Contains(dropped, s) {
					t.Errorf("dropped %q lacks %q", dropped, s)
				}
			}
			if tt.wantNoise == "" && l.Noise != "" {
				t.Errorf("noise %q for a citizen's letter", l.Noise)
			}
			if tt.wantNoise != "" && !strings.Contains(l.Noise, tt.wantNoise) {
				t.Errorf("noise %q, want %q", l.Noise, tt.wantNoise)
			}
			if !strings.HasPrefix(l.MessageID, "<") || !strings.HasSuffix(l.MessageID, ">") {
				t.Errorf("message id %q is not <…>", l.MessageID)
			}
		})
	}
}

func TestParseLetterSender(t *testing.T) {
	raw := plainLetter("=?UTF-8?B?5p2O5Zub?= <lisi@example.test>", "<s1@example.test>", "来信", "正文")
	raw = append([]byte("Reply-To: reply@example.test\r\nReferences: <older@example.test>\r\n"), raw...)
	l, err := ParseLetter(raw, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	got := []string{l.FromName, l.FromAddr, l.MessageID, strings.Join(l.References, " ")}
	want := []string{"李四", "reply@example.test", "<s1@example.test>", "<older@example.test>"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sender (-want +got):\n%s", d)
	}
}

// A letter without Message-ID gets one from its header: the same for two reads of one
// letter, different for different letters.
func TestDerivedMessageID(t *testing.T) {
	a := plainLetter("a@example.test", "", "一", "正文")
	b := plainLetter("b@example.test", "", "一", "正文")
	la, _ := ParseLetter(a, DefaultLimits())
	la2, _ := ParseLetter(a, DefaultLimits())
	lb, _ := ParseLetter(b, DefaultLimits())
	if la.MessageID != la2.MessageID {
		t.Errorf("two reads differ: %s %s", la.MessageID, la2.MessageID)
	}
	if la.MessageID == lb.MessageID {
		t.Errorf("two letters share %s", la.MessageID)
	}
	if safeRef(la.MessageID) != "" {
		t.Errorf("a made-up id %s would be used to thread a reply", la.MessageID)
	}
}

func TestHTMLText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>一</p><p>二</p>", "一\n\n二"},
		{"a<br>b", "a\nb"},
		{"<div>x &lt;script&gt; y</div>", "x <script> y"},
		{"<script>evil()</script><style>.a{}</style>ok", "ok"},
		{"<!-- secret -->visible", "visible"},
		{`<a href="https://12345.example.gov.cn/t">查询</a>`, "查询 (https://12345.example.gov.cn/t)"},
		{`<a href="javascript:alert(1)">点我</a>`, "点我"},
		{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a\tb\nc"},
		{"<pre>  keep\n  spaces</pre>", "keep\n  spaces"},
		{"<p>unclosed <b>bold", "unclosed bold"},
		{`<img src="x.png" alt="现场照片">`, "[现场照片]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := cleanText(htmlText(tt.in)); got != tt.want {
				t.Errorf("htmlText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A letter is kept whatever it holds: control characters and direction overrides in its
// header and body are cleaned out, as the rule for every text entering rexian asks.
func TestParseLetterCleansControlCharacters(t *testing.T) {
	raw := plainLetter("=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("李\x00四"))+"?= <lisi@example.test>",
		"<s2@example.test>", "来信\u202E反映", "正文\x00有\x1b控制字符")
	l, err := ParseLetter(raw, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	got := []string{l.FromName, l.Subject, strings.TrimSpace(l.Text)}
	// The header decoder already turns a NUL in an encoded word into a space.
	want := []string{"李 四", "来信反映", "正文有控制字符"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cleaned letter (-want +got):\n%s", d)
	}
}
