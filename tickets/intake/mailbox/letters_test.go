package mailbox

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Test letters, built in code so that the GBK and GB2312 ones can hold their real bytes.

// pngBytes is a 1×1 PNG; pdfBytes a minimal PDF. The tickets store sniffs both.
var (
	pngBytes = func() []byte {
		b, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
		return b
	}()
	pdfBytes = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
)

func gbk(s string) []byte {
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func b64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}

// header writes the usual fields; extra lines come before the blank line.
func header(from, msgID, subject string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: mayor@example.test\r\nDate: Mon, 23 Nov 2026 09:00:00 +0800\r\n", from)
	if msgID != "" {
		fmt.Fprintf(&b, "Message-ID: %s\r\n", msgID)
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMIME-Version: 1.0\r\n", mime.BEncoding.Encode("utf-8", subject))
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	return b.String()
}

func plainLetter(from, msgID, subject, body string) []byte {
	return []byte(header(from, msgID, subject, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") +
		"\r\n" + strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
}

func htmlLetter(from, msgID, subject, html string) []byte {
	return []byte(header(from, msgID, subject, "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64") +
		"\r\n" + b64Lines([]byte(html)))
}

func alternativeLetter(from, msgID, subject, plain, html string) []byte {
	return []byte(header(from, msgID, subject, `Content-Type: multipart/alternative; boundary="alt"`) + "\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines([]byte(plain)) +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines([]byte(html)) +
		"--alt--\r\n")
}

func attachmentsLetter(from, msgID, subject, body string) []byte {
	return []byte(header(from, msgID, subject, `Content-Type: multipart/mixed; boundary="mix"`) + "\r\n" +
		"--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines([]byte(body)) +
		"--mix\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename*=UTF-8''%E7%8E%B0%E5%9C%BA.png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines(pngBytes) +
		"--mix\r\nContent-Type: application/pdf; name=\"=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("材料.pdf")) + "?=\"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines(pdfBytes) +
		"--mix\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"setup.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines([]byte("MZ\x90\x00\x03\x00\x00\x00")) +
		"--mix--\r\n")
}

// gbkLetter has a GBK body and an RFC 2047 GBK subject, as older Chinese clients send.
func gbkLetter(from, msgID, subject, body, cs string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: mayor@example.test\r\nDate: Mon, 23 Nov 2026 09:00:00 +0800\r\nMessage-ID: %s\r\n", from, msgID)
	fmt.Fprintf(&b, "Subject: =?%s?B?%s?=\r\n", cs, base64.StdEncoding.EncodeToString(gbk(subject)))
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", cs)
	b.Write(gbk(strings.ReplaceAll(body, "\n", "\r\n")))
	b.WriteString("\r\n")
	return b.Bytes()
}

// brokenLetter declares a multipart whose boundary never comes, then carries bad base64.
func brokenLetter(from, msgID string) []byte {
	return []byte(header(from, msgID, "坏信", `Content-Type: multipart/mixed; boundary="nope"`) + "\r\n" +
		"--other\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n路灯坏了三个月没人修。\r\n")
}

func badBase64Letter(from, msgID string) []byte {
	return []byte(header(from, msgID, "编码错误", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64") +
		"\r\n" + base64.StdEncoding.EncodeToString([]byte("前半段可以读")) + "!!!@@@###\r\n")
}

func autoReply(msgID string) []byte {
	return []byte(header("vacation@example.org", msgID, "自动回复：休假中", "Auto-Submitted: auto-replied", "Content-Type: text/plain; charset=utf-8") + "\r\n我休假去了。\r\n")
}

func bounce(msgID string) []byte {
	return []byte("Return-Path: <>\r\n" + header("Mail Delivery System <MAILER-DAEMON@example.org>", msgID, "Undelivered Mail Returned to Sender",
		`Content-Type: multipart/report; report-type=delivery-status; boundary="b"`) + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n")
}

func listMessage(msgID string) []byte {
	return []byte(header("news@lists.example.org", msgID, "本周通讯", "List-Id: <news.lists.example.org>",
		"List-Unsubscribe: <mailto:unsubscribe@lists.example.org>", "Precedence: list", "Content-Type: text/plain; charset=utf-8") + "\r\n通讯正文。\r\n")
}

// nestedLetter nests multiparts depth deep around one text part.
func nestedLetter(from, msgID string, depth int) []byte {
	var b strings.Builder
	b.WriteString(header(from, msgID, "套娃", fmt.Sprintf(`Content-Type: multipart/mixed; boundary="b0"`)) + "\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n最里面的话\r\n--b%d--\r\n", depth-1, depth-1)
	for i := depth - 2; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return []byte(b.String())
}

// bombLetter carries n small attachments.
func bombLetter(from, msgID string, n int) []byte {
	var b strings.Builder
	b.WriteString(header(from, msgID, "很多附件", `Content-Type: multipart/mixed; boundary="m"`) + "\r\n")
	b.WriteString("--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--m\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"p%d.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s", i, b64Lines(pngBytes))
	}
	b.WriteString("--m--\r\n")
	return []byte(b.String())
}

// hugeLetter is a plain letter padded to about size bytes.
func hugeLetter(from, msgID string, size int) []byte {
	body := strings.Repeat("很长的来信。", size/18+1)
	return plainLetter(from, msgID, "很大的信", body)
}
