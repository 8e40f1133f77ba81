package api

import (
	"fmt"
	"mime/multipart"
	"net/url"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// One rule for every text that enters rexian. A text may hold any printable character, tab
// and newline; it may not hold other control characters (NUL, which PostgreSQL cannot
// store, ESC, DEL, the C1 controls), bytes that are not UTF-8, or the bidirectional
// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a text
// read on screen differently from what it says ("Trojan Source"). The left-to-right and
// right-to-left marks U+200E, U+200F and U+061C are let through: they change no order
// beyond the neutral character next to them, and Arabic and Hebrew text needs them.
// A CR LF pair, as browsers send a textarea's lines, is taken for a newline.
//
// What people and clients type (the API, the console, the web form, Open311) is refused
// with 400 naming the field; what arrives from outside on its own (a letter, a QQ message,
// an SMS) is cleaned with CleanText and kept, never dropped.

// textProblem returns what is wrong with s, or "" when it passes the rule; CR LF counts as
// a newline.
func textProblem(s string) string {
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Sprintf("holds a byte that is not UTF-8 (0x%02X) at byte %d", s[i], i)
		case r == '\r' && i+1 < len(s) && s[i+1] == '\n':
		case forbidden(r):
			return fmt.Sprintf("holds the control character U+%04X at byte %d", r, i)
		}
	}
	return ""
}

// forbidden reports whether r is a control character the rule refuses.
func forbidden(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// CheckText returns an ErrInvalid *Error naming field when s breaks the rule.
func CheckText(field, s string) error {
	return checkText(field, field, s)
}

// checkText is CheckText with the field's name for a page (name) apart from its
// description in the message (field).
func checkText(name, field, s string) error {
	if p := textProblem(s); p != "" {
		e := Errorf(ErrInvalid, "invalid_text",
			"%s %s; remove control characters, direction overrides and bytes that are not UTF-8", field, p)
		e.Field = name
		return e
	}
	return nil
}

// CleanText returns s made to pass the rule, for texts that must be kept whatever they
// hold: bytes that are not UTF-8 become U+FFFD, CR LF and a lone CR become a newline, and
// the refused control characters are dropped.
func CleanText(s string) string {
	if textProblem(s) == "" && !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		if forbidden(r) {
			return -1
		}
		return r
	}, s)
}

// normalize turns CR LF into a newline; s has passed the rule.
func normalize(s string) string {
	if strings.Contains(s, "\r") {
		return strings.ReplaceAll(s, "\r\n", "\n")
	}
	return s
}

// CheckFields checks every string v holds (v is a pointer to what a JSON body was decoded
// into: structs, pointers, slices, maps and interfaces are walked) and normalises their
// line ends in place. The first failing field is named by its JSON path, as
// "citizen.name" or "departments[1]". Walking by reflection means a field added to a
// request later is checked without anyone remembering to.
func CheckFields(v any) error {
	return walk(reflect.ValueOf(v), "", false)
}

// CleanFields is CleanText on every string v points to, walked as CheckFields walks, for
// what a channel received and must keep (a letter, a QQ message).
func CleanFields(v any) {
	_ = walk(reflect.ValueOf(v), "", true)
}

// walk checks (or, with clean, cleans) the strings under v.
func walk(v reflect.Value, path string, clean bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Interface {
			// The value inside an interface cannot be set; check it, and replace it when
			// line ends were normalised.
			inner := reflect.New(v.Elem().Type()).Elem()
			inner.Set(v.Elem())
			if err := walk(inner, path, clean); err != nil {
				return err
			}
			if v.CanSet() {
				v.Set(inner)
			}
			return nil
		}
		return walk(v.Elem(), path, clean)
	case reflect.String:
		s := v.String()
		if clean {
			if c := CleanText(s); c != s && v.CanSet() {
				v.SetString(c)
			}
			return nil
		}
		if err := checkText(path, fieldName(path), s); err != nil {
			return err
		}
		if n := normalize(s); n != s && v.CanSet() {
			v.SetString(n)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			p := path
			if !f.Anonymous || name != "" {
				if name == "" {
					name = f.Name
				}
				p = join(path, name)
			}
			if err := walk(v.Field(i), p, clean); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes (json.RawMessage, base64 data), not text
		}
		for i := 0; i < v.Len(); i++ {
			if err := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), clean); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if iter.Key().Kind() == reflect.String && !clean {
				if err := checkText(path, fieldName(join(path, "(key)")), k); err != nil {
					return err
				}
			}
			val := reflect.New(iter.Value().Type()).Elem()
			val.Set(iter.Value())
			if err := walk(val, join(path, k), clean); err != nil {
				return err
			}
			v.SetMapIndex(iter.Key(), val)
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldName(path string) string {
	if path == "" {
		return "the body"
	}
	return fmt.Sprintf("field %q", path)
}

// CheckValues checks the names and values of a query string or a posted form, and
// normalises the values' line ends in place. what says which ("query parameter", "form
// field").
func CheckValues(what string, vs url.Values) error {
	for name, list := range vs {
		if err := checkText(name, what+" name", name); err != nil {
			return err
		}
		for i, s := range list {
			if err := checkText(name, fmt.Sprintf("%s %q", what, name), s); err != nil {
				return err
			}
			list[i] = normalize(s)
		}
	}
	return nil
}

// CheckForm checks a parsed form (Request.ParseForm or ParseMultipartForm done): the
// values of the body and the query, and of a multipart form the fields and file names.
func CheckForm(form url.Values, mf *multipart.Form) error {
	if err := CheckValues("form field", form); err != nil {
		return err
	}
	if mf == nil {
		return nil
	}
	if err := CheckValues("form field", mf.Value); err != nil {
		return err
	}
	for name, files := range mf.File {
		for _, fh := range files {
			if err := checkText(name, fmt.Sprintf("the name of the file in %q", name), fh.Filename); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckRequestText is gin middleware that holds every request's path parameters and
// query string to the rule, before any handler reads them. Bodies are checked where
// they are read: BindJSON for JSON, CheckForm where a form is parsed. fail answers a
// refusal in the surface's own way (the JSON envelope, a page in Chinese); skip names the
// requests that clean instead of refusing (an SMS gateway's callback).
func CheckRequestText(fail func(*gin.Context, error), skip func(*gin.Context) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if skip != nil && skip(c) {
			c.Next()
			return
		}
		for _, p := range c.Params {
			if err := checkText(p.Key, fmt.Sprintf("path parameter %q", p.Key), p.Value); err != nil {
				fail(c, err)
				c.Abort()
				return
			}
		}
		// The raw query, so that bytes that are not UTF-8 are seen as sent.
		q, err := url.ParseQuery(c.Request.URL.RawQuery)
		if err != nil {
			fail(c, Errorf(ErrInvalid, "invalid_query", "malformed query string: %v", err))
			c.Abort()
			return
		}
		if err := CheckValues("query parameter", q); err != nil {
			fail(c, err)
			c.Abort()
			return
		}
		c.Next()
	}
}
