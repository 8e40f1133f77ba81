package dashboards

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/rexian/rexian/phone"
)

// Redaction removes personal data from text published on the public page (百姓直通车).
// It errs towards removing too much: a published answer is read by everyone, and a
// masked number or a hidden house number costs the reader nothing.
var (
	// Resident ID numbers: 18 characters (the last may be X) or the old 15 digits.
	idNumberRE = regexp.MustCompile(`(^|[^0-9])([1-9][0-9]{16}[0-9Xx]|[1-9][0-9]{14})($|[^0-9Xx])`)
	// Runs of digits with the separators people write in numbers; each is checked by
	// the phone package.
	phoneRE = regexp.MustCompile(`\+?[0-9][0-9 ()\-]{5,18}[0-9]`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	// House numbers: digits (Arabic, full-width or Chinese) before 号, 栋, 单元, 室 and
	// the like, and "3-2-501" style building-unit-room numbers.
	houseRE     = regexp.MustCompile(`[0-9０-９零一二三四五六七八九十百甲乙丙丁]+(\s*)(号楼|号院|号|栋|幢|座|单元|室|户|楼|层)`)
	houseDashRE = regexp.MustCompile(`[0-9]+-[0-9]+(-[0-9]+)?`)
	// Names people give in the text: 我叫张三, 本人李四, 姓名：王五.
	dateRE     = regexp.MustCompile(`^(19|20)[0-9]{2}-(0?[1-9]|1[0-2])(-(0?[1-9]|[12][0-9]|3[01]))?$`)
	selfNameRE = regexp.MustCompile(`(我叫|我是|本人|姓名[:：]?|联系人[:：]?)\s*([\p{Han}]{2,3})`)
)

// Redact returns text with personal data replaced: the citizen's name (the surname
// stays, as in 张某), names the text gives for its writer, resident ID numbers, phone
// numbers, e-mail addresses and house numbers.
func Redact(text, citizenName string) string {
	if name := strings.TrimSpace(citizenName); utf8.RuneCountInString(name) >= 2 {
		text = strings.ReplaceAll(text, name, pseudonym(name))
	}
	text = selfNameRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := selfNameRE.FindStringSubmatch(m)
		return strings.TrimSuffix(m, sub[2]) + pseudonym(sub[2])
	})
	text = idNumberRE.ReplaceAllString(text, "${1}[身份证号]${3}")
	text = emailRE.ReplaceAllString(text, "[邮箱]")
	text = phoneRE.ReplaceAllStringFunc(text, func(m string) string {
		if dateRE.MatchString(strings.TrimSpace(m)) {
			return m
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r == '+' {
				return r
			}
			return -1
		}, m)
		if n, err := phone.Parse(digits); err == nil && n.Kind != phone.Other {
			return "[电话]"
		}
		if len(digits) >= 7 {
			// Not a number the phone package knows, but long enough to identify someone
			// (an account, a licence plate's digits): hide it too.
			return "[号码]"
		}
		return m
	})
	text = houseDashRE.ReplaceAllStringFunc(text, func(m string) string {
		if dateRE.MatchString(m) {
			return m
		}
		return "*"
	})
	text = houseRE.ReplaceAllString(text, "*$1$2")
	return text
}

// pseudonym keeps a name's surname: 张三 → 张某; a two-character surname (欧阳) is kept
// whole only for names of four characters.
func pseudonym(name string) string {
	rs := []rune(name)
	if len(rs) >= 4 {
		return string(rs[:2]) + "某"
	}
	return string(rs[:1]) + "某"
}
