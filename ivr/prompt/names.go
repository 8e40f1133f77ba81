package prompt

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// maxNameLen keeps names well inside file-name limits; a department prompt is at most
// "dept-" and a 32-character code.
const maxNameLen = 64

// nameRE is what a prompt name may look like. It is the configuration's rule (lower-case
// letters, digits, '-') plus '_', which department codes may contain. Lower case only, so
// that a folder copied to a case-insensitive file system cannot merge two prompts.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ValidName reports why name cannot be a prompt's file name, or nil.
func ValidName(name string) error {
	if len(name) > maxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("prompt name %q must be 1-%d lower-case letters, digits, '-' or '_', starting with a letter or digit", name, maxNameLen)
	}
	return nil
}

// DepartmentPrefix starts the name of every department prompt.
const DepartmentPrefix = "dept-"

// DepartmentName is the prompt that speaks the name of the department with code, e.g.
// "dept-dsq" for DSQ. The controller plays sound:<prompt_dir>/<DepartmentName(code)>
// when it tells a caller which department handles a ticket.
func DepartmentName(code string) string {
	return DepartmentPrefix + strings.ToLower(strings.TrimSpace(code))
}

// Department is a department of the directory as the prompts need it.
type Department struct {
	Code string
	Name string // spoken as is, e.g. 市住房和城乡建设局
}

// DepartmentTexts returns the prompt texts for departments, keyed by DepartmentName.
// Every department comes back, active or not: an old ticket may still name a department
// that has since been closed. A department with no name or a code that makes no valid
// prompt name is left out and reported in the error; so are two codes that differ only in
// case, since they would share one file.
func DepartmentTexts(depts []Department) (map[string]string, error) {
	texts := make(map[string]string, len(depts))
	owner := make(map[string]string, len(depts))
	var errs []error
	for _, d := range depts {
		name := DepartmentName(d.Code)
		text := strings.TrimSpace(d.Name)
		switch {
		case ValidName(name) != nil:
			errs = append(errs, fmt.Errorf("department %q: %w", d.Code, ValidName(name)))
		case text == "":
			errs = append(errs, fmt.Errorf("department %q has no name to speak", d.Code))
		case owner[name] != "":
			errs = append(errs, fmt.Errorf("departments %q and %q would share the prompt %s", owner[name], d.Code, name))
		default:
			texts[name] = text
			owner[name] = d.Code
		}
	}
	return texts, errors.Join(errs...)
}

// Prompts the dialplan in deploy/asterisk plays itself, without rexian: when Stasis()
// fails because rexian is down, the caller hears FallbackSorry, leaves a message after the
// beep and hears FallbackThanks. They are not configuration because the dialplan names
// them; `rexian prompts` renders them with the configured ones.
const (
	FallbackSorry  = "fallback-sorry"
	FallbackThanks = "fallback-thanks"
	FallbackFailed = "fallback-failed"
)

// DialplanTexts returns the texts of the prompts the dialplan plays on its own.
func DialplanTexts() map[string]string {
	return map[string]string{
		FallbackSorry:  "您好，这里是市民热线。系统正在维护，暂时无法为您转接话务员。请在提示音后说明您反映的问题、地点和联系电话，按井号键结束。我们会尽快与您联系。",
		FallbackThanks: "您的留言已记录，我们会尽快与您联系。感谢您的来电，再见。",
		FallbackFailed: "抱歉，暂时无法记录您的留言，请稍后再拨。",
	}
}

// Merge joins sets of prompt texts into one. The same name with the same text is
// harmless; the same name with two texts is an error naming it, because one of the two
// prompts would silently say the wrong thing.
func Merge(sets ...map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var clashes []string
	for _, set := range sets {
		for _, name := range slices.Sorted(maps.Keys(set)) {
			if prev, ok := out[name]; ok && prev != set[name] {
				clashes = append(clashes, name)
				continue
			}
			out[name] = set[name]
		}
	}
	if len(clashes) > 0 {
		return out, fmt.Errorf("prompts with two different texts: %s", strings.Join(clashes, ", "))
	}
	return out, nil
}

// DigitsDir is the folder, beside the prompt folder inside Asterisk's language folder
// (sounds/zh/digits/), where Asterisk looks for the files it speaks digits: and
// number: media with.
const DigitsDir = "digits"

// DigitTexts are Mandarin versions of the files Asterisk plays for digits:123 (one file
// per character: digits/0 … digits/9, star, pound, minus) and for number:2026 with a
// zh language (Asterisk's Chinese rules in say.c: tens as digits/10 … digits/90, then
// hundred, thousand, wan 万 and yi 亿). Asterisk ships no Mandarin set; without these
// files a caller on a zh channel hears English digits or nothing.
//
// 1 is 一 rather than the 幺 operators use for phone numbers, because number: uses the
// same file for 一百 (one hundred).
func DigitTexts() map[string]string {
	texts := map[string]string{
		"minus": "负", "star": "星号", "pound": "井号",
		"hundred": "百", "thousand": "千", "wan": "万", "yi": "亿",
	}
	ones := []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	for d, s := range ones {
		texts[fmt.Sprint(d)] = s
		if d >= 1 {
			tens := s + "十"
			if d == 1 {
				tens = "十"
			}
			texts[fmt.Sprint(d*10)] = tens
		}
	}
	return texts
}
