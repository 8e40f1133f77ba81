package qq

import (
	"sort"
	"strings"
)

// CQ code is OneBot's string form of a message: text with codes like
// [CQ:at,qq=10001] and [CQ:image,file=a.jpg,url=https://…] between. In text, & [ and ]
// are written &amp; &#91; &#93;; inside a code's parameters , is &#44; as well.

var (
	textUnescaper  = strings.NewReplacer("&#91;", "[", "&#93;", "]", "&amp;", "&")
	paramUnescaper = strings.NewReplacer("&#91;", "[", "&#93;", "]", "&#44;", ",", "&amp;", "&")
	textEscaper    = strings.NewReplacer("&", "&amp;", "[", "&#91;", "]", "&#93;")
	paramEscaper   = strings.NewReplacer("&", "&amp;", "[", "&#91;", "]", "&#93;", ",", "&#44;")
)

// ParseCQ splits a CQ-code string into segments. Anything that is not a well-formed code
// is kept as text, so that no part of what the citizen wrote is lost. Adjacent text is
// one segment and empty text is left out.
func ParseCQ(s string) Message {
	var out Message
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, Segment{Type: "text", Data: map[string]string{"text": text.String()}})
			text.Reset()
		}
	}
	for len(s) > 0 {
		i := strings.Index(s, "[CQ:")
		if i < 0 {
			text.WriteString(textUnescaper.Replace(s))
			break
		}
		text.WriteString(textUnescaper.Replace(s[:i]))
		s = s[i:]
		end := strings.IndexByte(s, ']')
		seg, ok := parseCode(s, end)
		if !ok {
			// Not a code: keep "[CQ:" as text and look further on.
			text.WriteString(s[:4])
			s = s[4:]
			continue
		}
		s = s[end+1:]
		if seg.Type == "text" {
			// Text written as a code is still text.
			text.WriteString(seg.Data["text"])
			continue
		}
		flush()
		out = append(out, seg)
	}
	flush()
	return out
}

// parseCode parses s[:end+1], which starts with "[CQ:".
func parseCode(s string, end int) (Segment, bool) {
	if end < 0 {
		return Segment{}, false
	}
	body := s[4:end]
	if strings.Contains(body, "[") {
		return Segment{}, false // a real code never holds a raw [
	}
	parts := strings.Split(body, ",")
	typ := parts[0]
	if typ == "" {
		return Segment{}, false
	}
	for _, r := range typ {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return Segment{}, false
		}
	}
	seg := Segment{Type: typ, Data: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		seg.Data[paramUnescaper.Replace(k)] = paramUnescaper.Replace(v)
	}
	return seg, true
}

// FormatCQ writes segments as a CQ-code string, escaping text and parameters.
func FormatCQ(m Message) string {
	var b strings.Builder
	for _, s := range m {
		if s.Type == "text" {
			b.WriteString(textEscaper.Replace(s.Data["text"]))
			continue
		}
		b.WriteString("[CQ:")
		b.WriteString(s.Type)
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(",")
			b.WriteString(paramEscaper.Replace(k))
			b.WriteString("=")
			b.WriteString(paramEscaper.Replace(s.Data[k]))
		}
		b.WriteString("]")
	}
	return b.String()
}
