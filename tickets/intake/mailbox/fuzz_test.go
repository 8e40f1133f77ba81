package mailbox

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseLetter feeds arbitrary bytes to the parser: it must never panic (the recover
// in ParseLetter would hide one, so the test asks it not to be needed), must always return
// a letter with a reference, text that is valid UTF-8, and keep within its limits.
func FuzzParseLetter(f *testing.F) {
	const from = "张三 <zhangsan@example.test>"
	seeds := [][]byte{
		plainLetter(from, "<p@x>", "主题", "正文"),
		htmlLetter(from, "<h@x>", "主题", "<p>a&amp;b<script>x</script></p>"),
		alternativeLetter(from, "<a@x>", "主题", "纯文本", "<b>html</b>"),
		attachmentsLetter(from, "<f@x>", "附件", "见附件"),
		gbkLetter(from, "<g@x>", "供暖", "不热", "GBK"),
		gbkLetter(from, "<g2@x>", "积水", "严重", "gb2312"),
		brokenLetter(from, "<b@x>"),
		badBase64Letter(from, "<b2@x>"),
		nestedLetter(from, "<n@x>", 10),
		bombLetter(from, "<m@x>", 12),
		autoReply("<ar@x>"),
		bounce("<bo@x>"),
		listMessage("<l@x>"),
		[]byte(""),
		[]byte("\r\n\r\n"),
		[]byte("Subject: =?GBK?B?////?=\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	lim := Limits{MaxDepth: 4, MaxParts: 20, MaxAttachments: 3, MaxAttachmentBytes: 4 << 10, MaxTotalBytes: 8 << 10, MaxTextBytes: 16 << 10}
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, _ := ParseLetter(raw, lim)
		if l == nil {
			t.Fatal("no letter")
		}
		for _, p := range l.Problems {
			if strings.HasPrefix(p, "parser failed") {
				t.Fatalf("parser panicked: %s", p)
			}
		}
		if l.MessageID == "" || strings.ContainsAny(l.MessageID, "\r\n") {
			t.Fatalf("message id %q", l.MessageID)
		}
		for _, s := range []string{l.Text, l.Subject, l.FromName} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
		}
		if strings.ContainsAny(l.Subject, "\r\n") || strings.ContainsAny(l.FromName, "\r\n") {
			t.Fatalf("line break in a header value: %q %q", l.Subject, l.FromName)
		}
		if len(l.Attachments) > lim.MaxAttachments {
			t.Fatalf("%d attachments, limit %d", len(l.Attachments), lim.MaxAttachments)
		}
		var total int64
		for _, a := range l.Attachments {
			total += int64(len(a.Data))
			if int64(len(a.Data)) > lim.MaxAttachmentBytes || strings.ContainsAny(a.Name, "/\\\r\n") {
				t.Fatalf("attachment %q of %d bytes", a.Name, len(a.Data))
			}
		}
		if total > lim.MaxTotalBytes {
			t.Fatalf("attachments total %d, limit %d", total, lim.MaxTotalBytes)
		}
	})
}
